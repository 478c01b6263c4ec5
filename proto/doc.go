// Package proto is the wire contract of mtsfarm: NATS subject, stream,
// consumer and KV bucket names, object-key builders, and the v1 message types
// exchanged by the coordinator, fetchers and renderers. The JetStream
// configuration of those streams (retention, limits) is in internal/bus
// (Definitions), so proto stays free of any NATS client code.
//
// The messages are in one file per family: api.go (job API requests and
// replies), job.go (the job record), task_fetch.go, task_render.go and
// task_finalize.go (tasks), results.go, events.go, workers.go (presence).
//
// Every message carries a versioned "type" field ("mtsfarm.v1.<name>") and has
// a Validate method whose errors wrap ErrInvalid. The contract is additive
// within v1: fields may be added, never change meaning. Golden JSON for every
// type lives in proto/testdata.
//
// proto imports nothing from the project and no NATS package; every other
// package may import it.
package proto
