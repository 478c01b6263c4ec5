package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestResetConsumersRedeliversHeldTasksAtOnce(t *testing.T) {
	ctx := context.Background()
	_, _, js := bustest.Start(t)
	task := proto.FinalizeTask{Type: proto.TypeFinalizeTask, Job: "j1"}
	if err := bus.Publish(ctx, js, proto.FinalizeSubject("j1"), task, ""); err != nil {
		t.Fatal(err)
	}
	cons := bustest.Consumer(t, js, proto.StreamFinalize, proto.ConsumerFinalizers)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
		// held and never acked: a process that died
	}
	top := bus.Definitions(1)
	if err := bus.ResetConsumers(ctx, js, top); err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(ctx, js, top); err != nil {
		t.Fatal(err)
	}
	cons = bustest.Consumer(t, js, proto.StreamFinalize, proto.ConsumerFinalizers)
	start := time.Now()
	batch, err = cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		m.Ack()
	}
	if n != 1 || time.Since(start) > 4*time.Second {
		t.Fatalf("got %d messages after %v; want the held task at once, not after the %v ack wait", n, time.Since(start), proto.AckWait)
	}
	// Resetting before anything exists is fine.
	_, _, js2 := bustest.StartWith(t, bus.Topology{})
	if err := bus.ResetConsumers(ctx, js2, top); err != nil {
		t.Fatalf("reset without streams: %v", err)
	}
}
