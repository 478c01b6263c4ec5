package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestCancelsStopJobTasks(t *testing.T) {
	_, nc, _ := bustest.Start(t)
	c := bus.NewCancels(zerolog.Nop())
	sub, err := c.Subscribe(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	a, doneA, err := c.Begin(context.Background(), "j1", "j1/0")
	if err != nil {
		t.Fatal(err)
	}
	b, doneB, _ := c.Begin(context.Background(), "j2", "j2/3")
	defer doneB()
	if got := c.Running(); !slices.Equal(got, []string{"j1/0", "j2/3"}) {
		t.Fatalf("running %v", got)
	}
	if err := nc.Publish(proto.CancelSubject("j1"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the canceled job's task kept running")
	}
	if !errors.Is(context.Cause(a), bus.ErrJobCanceled) {
		t.Fatalf("cause %v", context.Cause(a))
	}
	if b.Err() != nil {
		t.Fatal("another job's task was stopped")
	}
	doneA()
	if got := c.Running(); !slices.Equal(got, []string{"j2/3"}) {
		t.Fatalf("running after done %v", got)
	}
	// A task of the canceled job that arrives later is refused.
	if _, _, err := c.Begin(context.Background(), "j1", "j1/1"); !errors.Is(err, bus.ErrJobCanceled) {
		t.Fatalf("late task of a canceled job: %v", err)
	}
	c.Cancel("not a job id!") // ignored, no panic
}
