package bus

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/proto"
)

// The JetStream shape of the contract: the streams, consumers and buckets
// named in proto, with their retention and limits. Provision creates them.

// StreamDef is one stream with its durable consumers.
type StreamDef struct {
	Stream    jetstream.StreamConfig
	Consumers []jetstream.ConsumerConfig
}

// Topology is every stream, consumer and KV bucket mtsfarm needs. replicas is
// 1 for a single server (embedded mode) and 3 for a production cluster.
type Topology struct {
	Streams []StreamDef
	Buckets []jetstream.KeyValueConfig
}

func workQueue(name, subject, consumer string, replicas int, desc string) StreamDef {
	return StreamDef{
		Stream: jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subject},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  proto.DuplicateWindow,
			Discard:     jetstream.DiscardOld,
		},
		Consumers: []jetstream.ConsumerConfig{workConsumer(consumer, subject, replicas, desc)},
	}
}

// laneQueue is a work stream with a consumer per priority lane (proto.Lanes):
// consumer for the normal lane, consumer-high and consumer-low for the others.
func laneQueue(name, subjects, consumer string, replicas int, desc string) StreamDef {
	d := workQueue(name, subjects, consumer, replicas, desc)
	d.Consumers = d.Consumers[:0]
	for _, l := range proto.Lanes {
		d.Consumers = append(d.Consumers, workConsumer(l.Consumer(consumer), proto.LaneFilter(name, l), replicas,
			fmt.Sprintf("%s, %s priority", desc, l)))
	}
	return d
}

func workConsumer(durable, filter string, replicas int, desc string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   desc,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       proto.AckWait,
		MaxDeliver:    proto.MaxDeliver,
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: filter,
		Replicas:      replicas,
	}
}

// Definitions returns the topology for the given replica count.
func Definitions(replicas int) Topology {
	if replicas < 1 {
		replicas = 1
	}
	events := StreamDef{Stream: jetstream.StreamConfig{
		Name:        proto.StreamEvents,
		Description: "job events for watchers and dashboards",
		Subjects:    []string{proto.EventSubjects},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      proto.EventsMaxAge,
		MaxBytes:    proto.EventsMaxBytes,
		Discard:     jetstream.DiscardOld,
	}}
	return Topology{
		Streams: []StreamDef{
			workQueue(proto.StreamIntake, proto.SubjectIntake, proto.ConsumerIntake, replicas, "durable job submissions"),
			laneQueue(proto.StreamFetch, proto.FetchSubjects, proto.ConsumerFetchers, replicas, "resolve and fetch tasks"),
			laneQueue(proto.StreamRender, proto.RenderSubjects, proto.ConsumerRenderers, replicas, "render units"),
			laneQueue(proto.StreamFinalize, proto.FinalizeSubjects, proto.ConsumerFinalizers, replicas, "finalize tasks"),
			workQueue(proto.StreamResults, proto.ResultSubjects, proto.ConsumerResults, replicas, "task results for the coordinator"),
			events,
		},
		Buckets: []jetstream.KeyValueConfig{
			// History 1: a record holds the session cookie until the flow is
			// resolved, and no earlier revision may keep it after; the
			// compare-and-set needs only the last revision.
			{Bucket: proto.BucketJobs, Description: "job records (compare-and-set only)", History: 1,
				Storage: jetstream.FileStorage, Replicas: replicas},
			{Bucket: proto.BucketWorkers, Description: "worker presence and capabilities", TTL: proto.WorkerTTL,
				Storage: jetstream.MemoryStorage, Replicas: replicas},
		},
	}
}
