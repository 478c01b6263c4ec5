// Package bus is mtsfarm's NATS layer: connecting (NATS_URL, creds, TLS), an
// embedded nats-server with JetStream for the one-process farm and for tests,
// idempotent provisioning of the streams, consumers and KV buckets that proto
// defines, JSON publish/decode helpers, worker presence, and the worker loop
// every role runs: one message per free slot, InProgress heartbeats while the
// handler advances, ack / nak with backoff / term by error class, and an
// immediate hand-back on shutdown.
package bus
