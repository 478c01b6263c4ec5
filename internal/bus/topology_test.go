package bus_test

import (
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestDefinitions(t *testing.T) {
	top := bus.Definitions(3)
	seen := map[string]bool{}
	for _, s := range top.Streams {
		if s.Stream.Replicas != 3 {
			t.Errorf("%s has %d replicas", s.Stream.Name, s.Stream.Replicas)
		}
		for _, c := range s.Consumers {
			if seen[c.Durable] {
				t.Errorf("consumer %s defined twice", c.Durable)
			}
			seen[c.Durable] = true
			if c.AckWait != proto.AckWait || c.MaxDeliver != proto.MaxDeliver {
				t.Errorf("consumer %s has ack wait %v and max deliver %d", c.Durable, c.AckWait, c.MaxDeliver)
			}
		}
	}
	if len(top.Buckets) != 2 || bus.Definitions(0).Streams[0].Stream.Replicas != 1 {
		t.Error("buckets or replica floor wrong")
	}
}
