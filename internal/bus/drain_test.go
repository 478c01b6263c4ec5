package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Draining (SIGTERM with a grace period): the running task finishes and is
// acked, and no queued task is taken meanwhile.
func TestWorkerDrainFinishesTheRunningTask(t *testing.T) {
	_, nc, js := bustest.Start(t)
	acks := watchAcks(t, nc, proto.StreamFetch)
	cons := bustest.Consumer(t, js, proto.StreamFetch, proto.ConsumerFetchers)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var handled, canceled atomic.Int64
	stop := startWorker(t, &bus.Worker{Name: "a", Consumer: cons, PollWait: pollWait, Log: bustest.Logger(t), Grace: 30 * time.Second,
		Handler: func(ctx context.Context, task *bus.Task) error {
			handled.Add(1)
			started <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				canceled.Add(1)
				return ctx.Err()
			}
		}})
	publishTasks(t, js, 3)
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(3 * pollWait) // the worker is draining; it must not take task 2
	select {
	case <-stopped:
		t.Fatal("the worker stopped before its task finished, with 30s of grace left")
	default:
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop after its task finished")
	}
	if h, c := handled.Load(), canceled.Load(); h != 1 || c != 0 {
		t.Errorf("handled %d tasks, canceled %d, want 1 and 0", h, c)
	}
	bustest.WaitFor(t, 5*time.Second, "the ack", func() bool { return acks.count("+ACK") == 1 })
	if n := bustest.StreamMsgs(t, js, proto.StreamFetch); n != 2 {
		t.Errorf("%d tasks left in the stream, want the 2 not taken", n)
	}
}

// A task longer than the grace period is canceled and handed back when the
// grace ends, at once (not after the ack wait).
func TestWorkerDrainHandsBackAfterGrace(t *testing.T) {
	_, nc, js := bustest.Start(t)
	acks := watchAcks(t, nc, proto.StreamFetch)
	cons := bustest.Consumer(t, js, proto.StreamFetch, proto.ConsumerFetchers)
	started := make(chan struct{})
	cause := make(chan error, 1)
	stop := startWorker(t, &bus.Worker{Name: "a", Consumer: cons, PollWait: pollWait, Log: bustest.Logger(t), Grace: 500 * time.Millisecond,
		Handler: func(ctx context.Context, task *bus.Task) error {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil
		}})
	publishTasks(t, js, 1)
	<-started
	t0 := time.Now()
	stop()
	if took := time.Since(t0); took < 400*time.Millisecond {
		t.Errorf("stopped after %s, before the 500ms grace", took)
	}
	if err := <-cause; !errors.Is(err, bus.ErrShutdown) {
		t.Errorf("cause %v, want ErrShutdown", err)
	}
	bustest.WaitFor(t, 5*time.Second, "the hand-back", func() bool { return acks.count("-NAK") == 1 })
	if n := acks.count("+ACK"); n != 0 {
		t.Errorf("%d acks of a handed-back task", n)
	}
}
