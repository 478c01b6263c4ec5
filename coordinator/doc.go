// Package coordinator runs a job from submission to finished MP4: the intake
// service, the planner (pure: flow JSON → player-exact timeline → windows with
// layouts → render units), the job state machine, dispatch of fetch tasks and
// render units, and finalize (stream-copy concat of the units plus one audio
// mix).
//
// The planner (Plan, in plan.go, timeline*.go, layout*.go) does no I/O: it
// turns a decoded flow and what is known about its media (probes, absent
// files) into a proto.Plan, and the same inputs always give the same plan.
package coordinator
