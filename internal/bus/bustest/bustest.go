// Package bustest starts a real embedded nats-server with JetStream for
// tests, with mtsfarm's topology provisioned and the store in t.TempDir().
package bustest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Start starts an in-process server (no TCP listener) with
// bus.Definitions(1) provisioned. Cleanup closes the connection and shuts
// the server down.
func Start(t testing.TB) (*bus.Embedded, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	return StartWith(t, bus.Definitions(1))
}

// StartWith is Start with another topology (for example one with a short
// AckWait; see WithAckWait).
func StartWith(t testing.TB, top bus.Topology) (*bus.Embedded, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: t.TempDir(), Log: Logger(t)})
	if err != nil {
		t.Fatalf("starting embedded NATS: %v", err)
	}
	t.Cleanup(e.Shutdown)
	nc, js := Connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, top); err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	return e, nc, js
}

// Connect opens another in-process connection to e, closed at cleanup.
func Connect(t testing.TB, e *bus.Embedded) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := e.Connect()
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// WithAckWait returns top with every consumer's AckWait set to d, so tests
// of heartbeats and redelivery run in seconds.
func WithAckWait(top bus.Topology, d time.Duration) bus.Topology {
	out := bus.Topology{Buckets: top.Buckets}
	for _, s := range top.Streams {
		def := bus.StreamDef{Stream: s.Stream}
		for _, c := range s.Consumers {
			c.AckWait = d
			def.Consumers = append(def.Consumers, c)
		}
		out.Streams = append(out.Streams, def)
	}
	return out
}

// Consumer returns the provisioned durable consumer of stream.
func Consumer(t testing.TB, js jetstream.JetStream, stream, durable string) jetstream.Consumer {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatalf("consumer %s/%s: %v", stream, durable, err)
	}
	return c
}

// StreamMsgs is how many messages stream holds.
func StreamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Msgs
}

// Logger is a zerolog logger writing to t.Log at debug level, each line
// stamped with the time in milliseconds (key at).
func Logger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).
		Level(zerolog.DebugLevel).Hook(stamp{})
}

type stamp struct{}

func (stamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("at", time.Now().Format("15:04:05.000"))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitFor polls cond every 20 ms until it holds, or fails the test after
// timeout naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
