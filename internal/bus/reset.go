package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ResetConsumers deletes the durable consumers of top's streams, keeping the
// streams and their messages; Provision then recreates them. It is for the
// embedded farm only, which is the sole worker of its streams: a task it held
// when it stopped is restored by the server as delivered and would wait a
// whole ack wait before redelivery, while a fresh consumer of a work-queue
// stream (which keeps exactly the unacknowledged messages) delivers it at
// once. Never call it on a shared farm: other workers' tasks would be
// delivered twice.
func ResetConsumers(ctx context.Context, js jetstream.JetStream, top Topology) error {
	for _, sd := range top.Streams {
		for _, c := range sd.Consumers {
			err := js.DeleteConsumer(ctx, sd.Stream.Name, c.Durable)
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("resetting consumer %s/%s: %w", sd.Stream.Name, c.Durable, err)
			}
		}
	}
	return nil
}
