package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Outcome is how a task ended on a worker.
type Outcome string

// Task outcomes, as Observer hears them (and as metrics label them).
const (
	OutcomeDone       Outcome = "done"        // acked
	OutcomeFailed     Outcome = "failed"      // terminated: permanent failure
	OutcomeRetry      Outcome = "retry"       // failed, redelivered after a backoff
	OutcomeHandedBack Outcome = "handed_back" // asked to be redelivered later (RetryAfter)
	OutcomePanic      Outcome = "panic"       // the handler panicked; redelivered
	OutcomeHung       Outcome = "hung"        // no progress for an ack wait; left to be redelivered
	OutcomeShutdown   Outcome = "shutdown"    // the worker stopped; handed back at once
)

// Observer hears of every task a Worker handles (metrics: tasks in flight,
// failures by reason). Its methods are called from the worker's slots at
// once, so they must be safe for concurrent use and cheap.
type Observer interface {
	TaskStarted(subject string)
	TaskFinished(subject string, outcome Outcome, took time.Duration)
}

type nopObserver struct{}

func (nopObserver) TaskStarted(string)                          {}
func (nopObserver) TaskFinished(string, Outcome, time.Duration) {}

// LaneConsumers opens the durable consumers of every priority lane of a work
// stream, highest first (proto.Lanes): base is the normal lane's consumer
// ("renderers"). It is what Worker.Lanes takes.
func LaneConsumers(ctx context.Context, js jetstream.JetStream, stream, base string) ([]jetstream.Consumer, error) {
	out := make([]jetstream.Consumer, 0, len(proto.Lanes))
	for _, l := range proto.Lanes {
		name := l.Consumer(base)
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return nil, fmt.Errorf("opening consumer %s/%s: %w (is the farm provisioned? a coordinator provisions it)", stream, name, err)
		}
		out = append(out, c)
	}
	return out, nil
}
