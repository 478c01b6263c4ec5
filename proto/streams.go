package proto

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	StreamIntake   = "MTSFARM_INTAKE"
	StreamFetch    = "MTSFARM_FETCH"
	StreamRender   = "MTSFARM_RENDER"
	StreamFinalize = "MTSFARM_FINALIZE"
	StreamResults  = "MTSFARM_RESULTS"
	StreamEvents   = "MTSFARM_EVENTS"
)

// Durable consumer names.
const (
	ConsumerIntake     = "coordinators-intake"
	ConsumerFetchers   = "fetchers"
	ConsumerRenderers  = "renderers"
	ConsumerFinalizers = "finalizers"
	ConsumerResults    = "coordinators"
)

// KV bucket names.
const (
	BucketJobs    = "mtsfarm_jobs"
	BucketWorkers = "mtsfarm_workers"
)

// Timing defaults shared by the consumers and the worker loop.
const (
	// AckWait is short so a dead worker is noticed within a minute; long
	// tasks keep their message with InProgress while they advance.
	AckWait = 60 * time.Second
	// MaxDeliver is a safety net only: real attempts are counted in the job
	// record, and naks (shutdown hand-backs) also count against MaxDeliver.
	MaxDeliver = 50
	// DuplicateWindow is how long Nats-Msg-Id dedups a republished task.
	DuplicateWindow = 24 * time.Hour
	// EventsMaxAge is how long events are kept.
	EventsMaxAge = 7 * 24 * time.Hour
	// WorkerTTL is how long a worker's presence entry lives without renewal.
	WorkerTTL = 30 * time.Second
)

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
			Duplicates:  DuplicateWindow,
			Discard:     jetstream.DiscardOld,
		},
		Consumers: []jetstream.ConsumerConfig{{
			Durable:       consumer,
			Description:   desc,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       AckWait,
			MaxDeliver:    MaxDeliver,
			MaxAckPending: -1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: subject,
			Replicas:      replicas,
		}},
	}
}

// Definitions returns the topology for the given replica count.
func Definitions(replicas int) Topology {
	if replicas < 1 {
		replicas = 1
	}
	events := StreamDef{Stream: jetstream.StreamConfig{
		Name:        StreamEvents,
		Description: "job events for watchers and dashboards",
		Subjects:    []string{eventPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      EventsMaxAge,
		Discard:     jetstream.DiscardOld,
	}}
	return Topology{
		Streams: []StreamDef{
			workQueue(StreamIntake, SubjectIntake, ConsumerIntake, replicas, "durable job submissions"),
			workQueue(StreamFetch, fetchPrefix+".*", ConsumerFetchers, replicas, "resolve and fetch tasks"),
			workQueue(StreamRender, renderPrefix+".*", ConsumerRenderers, replicas, "render units"),
			workQueue(StreamFinalize, finalizePrefix+".*", ConsumerFinalizers, replicas, "finalize tasks"),
			workQueue(StreamResults, resultPrefix+".*.*", ConsumerResults, replicas, "task results for the coordinator"),
			events,
		},
		Buckets: []jetstream.KeyValueConfig{
			{Bucket: BucketJobs, Description: "job records (compare-and-set only)", History: 5,
				Storage: jetstream.FileStorage, Replicas: replicas},
			{Bucket: BucketWorkers, Description: "worker presence and capabilities", TTL: WorkerTTL,
				Storage: jetstream.MemoryStorage, Replicas: replicas},
		},
	}
}
