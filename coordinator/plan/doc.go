// Package plan is the planner, pure: a decoded MTS Link flow and what is known
// of its media (probes, absent files) become a proto.Plan — the player-exact
// timeline (timeline_*.go), windows with their layouts and the output
// geometry (layout*.go, geometry_freeze.go), cut into render units
// (plan_units.go). The same inputs always give the same plan.
//
// plan does no I/O and must not import NATS, the object store, ffmpeg,
// logging or the clock: only proto and the flow types of internal/mts.
package plan
