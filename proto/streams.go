package proto

import "time"

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
	// EventsMaxBytes bounds the events stream: it shares the JetStream
	// store with the work queues, and a full store would stop the farm. The
	// oldest events go first (a week of a busy farm is far below this).
	EventsMaxBytes = 1 << 30
	// WorkerTTL is how long a worker's presence entry lives without renewal.
	WorkerTTL = 30 * time.Second
)
