// Package coordinator is the job service: the micro API (api.go) and the
// durable intake, the job store in KV (jobstore.go, compare-and-set only),
// the pure job state machine (state.go, apply.go) that decides what to
// publish next, dispatch of fetch tasks and render units, the result loop
// (results.go) and the finalize task handler (output.go).
//
// It imports coordinator/plan (flow → units, pure) and coordinator/finalize
// (join, mix, mux, check), never the other way round, and meets the fetcher
// and renderer roles only through proto messages on NATS.
package coordinator
