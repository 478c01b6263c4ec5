// Package proto is the wire contract of mtsfarm: NATS subjects, the JetStream
// streams, consumers and KV buckets as code, object-key builders, and the v1
// message types exchanged by the coordinator, fetchers and renderers.
//
// Every message carries a versioned "type" field ("mtsfarm.v1.<name>") and has
// a Validate method whose errors wrap ErrInvalid. The contract is additive
// within v1: fields may be added, never change meaning. Golden JSON for every
// type lives in proto/testdata.
//
// proto imports nothing from the project; every other package may import it.
package proto
