package bus_test

import (
	"context"
	"encoding/json"
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
	a, doneA, err := c.Begin(context.Background(), "j1", 0, "j1/0")
	if err != nil {
		t.Fatal(err)
	}
	b, doneB, _ := c.Begin(context.Background(), "j2", 0, "j2/3")
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
	if _, _, err := c.Begin(context.Background(), "j1", 0, "j1/1"); !errors.Is(err, bus.ErrJobCanceled) {
		t.Fatalf("late task of a canceled job: %v", err)
	}
	c.Cancel("not a job id!", 0) // ignored, no panic
}

// Cancel, then retry: a cancel of generation 0 refuses and stops only
// generation 0; the retried job's tasks (generation 1) run. Before, every
// task of a job id seen canceled was refused for an hour, and a job retried
// after a cancel hung.
func TestCancelsKeepRetriedGenerations(t *testing.T) {
	_, nc, _ := bustest.Start(t)
	c := bus.NewCancels(zerolog.Nop())
	sub, err := c.Subscribe(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	old, doneOld, err := c.Begin(context.Background(), "j1", 0, "j1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer doneOld()
	newer, doneNewer, err := c.Begin(context.Background(), "j1", 1, "j1/1")
	if err != nil {
		t.Fatal(err)
	}
	defer doneNewer()
	notice, _ := json.Marshal(proto.CancelNotice{Job: "j1", Generation: 0})
	if err := nc.Publish(proto.CancelSubject("j1"), notice); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the canceled generation's task kept running")
	}
	if newer.Err() != nil {
		t.Fatal("a task of a later generation was stopped by the cancel of an earlier one")
	}
	if _, _, err := c.Begin(context.Background(), "j1", 0, "j1/0"); !errors.Is(err, bus.ErrJobCanceled) {
		t.Fatalf("late task of the canceled generation: %v", err)
	}
	_, done, err := c.Begin(context.Background(), "j1", 1, "j1/2")
	if err != nil {
		t.Fatalf("task of the retried generation refused: %v", err)
	}
	done()
	// A later cancel of generation 1 covers it, and an older notice
	// arriving late does not lower what is canceled.
	c.Cancel("j1", 1)
	c.Cancel("j1", 0)
	if _, _, err := c.Begin(context.Background(), "j1", 1, "j1/3"); !errors.Is(err, bus.ErrJobCanceled) {
		t.Fatalf("task of the canceled generation 1: %v", err)
	}
}
