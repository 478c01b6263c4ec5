package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Config configures a coordinator.
type Config struct {
	// WorkerID names this coordinator in logs, presence and job records.
	WorkerID string
	// MTSBaseURLs are extra base URLs whose recording URLs are accepted
	// (the fake MTS Link server in tests and demos).
	MTSBaseURLs []string
	// UnitSeconds is the default render unit length.
	UnitSeconds float64
	// MaxHeight is the default output height cap.
	MaxHeight int
	// FPS of every output.
	FPS int
	// Encoding of every unit.
	Encoding proto.Encoding
	// AudioBitrate of the final AAC track.
	AudioBitrate string
	// OutputName is the output name template: {title}, {job}, {session}.
	OutputName string
	// WorkDir holds finalize scratch files.
	WorkDir string
	// FinalizeSlots is how many finalize tasks run at once.
	FinalizeSlots int
	// ReconcileEvery is how often the reconciler looks at every unfinished
	// job: it republishes the job's next step (deduplicated by Nats-Msg-Id,
	// so a step in flight is not doubled) and fails a stalled job.
	ReconcileEvery time.Duration
	// StallTimeout fails a job that has had no task result for this long,
	// with the reason, instead of leaving it to hang.
	StallTimeout time.Duration
	// RetainScratch is how long a finished job's units and audio are kept
	// (retention.go; 0: forever); RetainJobs how long its record is kept.
	RetainScratch, RetainJobs time.Duration
	// SweepEvery is how often the retention sweep runs.
	SweepEvery time.Duration
	// DrainGrace is how long a running finalize may go on after the
	// coordinator is told to stop (SIGTERM) before it is handed back.
	DrainGrace time.Duration
	// Metrics counts the finalize tasks and times (/metrics, the
	// mtsfarm-coordinator micro service); nil: a private one.
	Metrics *ops.Metrics
	Log     zerolog.Logger
}

// DefaultConfig returns the defaults of a coordinator.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		WorkerID: proto.DefaultWorkerID(proto.RoleCoordinator, host), UnitSeconds: 1800, MaxHeight: 720, FPS: 25,
		Encoding: proto.DefaultEncoding(), AudioBitrate: "128k", OutputName: "{title}",
		WorkDir: os.TempDir(), FinalizeSlots: 1, ReconcileEvery: 30 * time.Second, StallTimeout: 2 * time.Hour,
		RetainScratch: 7 * 24 * time.Hour, RetainJobs: 180 * 24 * time.Hour, SweepEvery: time.Hour,
		Log: zerolog.Nop(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if !proto.ValidWorkerID(c.WorkerID) {
		return fmt.Errorf("worker id %q must be 1-64 characters of a-z, 0-9, _ and -", c.WorkerID)
	}
	if c.UnitSeconds < 10 {
		return fmt.Errorf("unit seconds %g is below 10", c.UnitSeconds)
	}
	if c.ReconcileEvery <= 0 || c.StallTimeout <= 0 || c.SweepEvery <= 0 {
		return errors.New("reconcile interval, stall timeout and sweep interval must be positive")
	}
	if c.RetainScratch < 0 || c.RetainJobs < 0 || (c.RetainJobs > 0 && c.RetainScratch > c.RetainJobs) {
		return fmt.Errorf("retention: units kept %s and records %s: want 0 (forever) or positive, records at least as long as units",
			c.RetainScratch, c.RetainJobs)
	}
	if c.MaxHeight < 360 || c.FPS < 1 || c.FinalizeSlots < 1 {
		return errors.New("max height must be at least 360, fps and finalize slots at least 1")
	}
	if err := c.Encoding.Validate(); err != nil {
		return err
	}
	if _, err := mts.NewParser(c.MTSBaseURLs...); err != nil {
		return err
	}
	if !strings.Contains(c.OutputName, "{") && strings.TrimSpace(c.OutputName) == "" {
		return errors.New("output name template is empty")
	}
	return nil
}

// Coordinator runs the job API, the durable intake, the result loop that
// advances jobs, and finalize tasks.
type Coordinator struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	store  blob.Store
	ff     *ffmpeg.Runner
	parser *mts.Parser
	log    zerolog.Logger
	jobs   *jobStore
	wkv    jetstream.KeyValue
	// metrics counts the finalize tasks for /metrics and the micro service.
	metrics *ops.Metrics

	mu    sync.Mutex
	flows map[string]*resolvedJob // resolved flows and base plans by job id

	// runCtx is Run's context (background work such as the premix stops
	// with it); premixSlot allows one premix at a time (premix.go).
	runCtx     context.Context
	premixSlot chan struct{}
	premixes   map[string]*runningPremix // by job id, under mu

	now func() time.Time
}

// New makes a coordinator. The streams and buckets must be provisioned
// (bus.Provision).
func New(ctx context.Context, cfg Config, nc *nats.Conn, store blob.Store, ff *ffmpeg.Runner) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	// Finalize scratch lives here: make it now, or refuse to start with the
	// reason (a missing dir found only at finalize would fail every job).
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the coordinator's work dir %s (set --work-dir to a writable directory): %w", cfg.WorkDir, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, proto.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("opening KV %s (provision the streams first): %w", proto.BucketJobs, err)
	}
	wkv, err := js.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		return nil, fmt.Errorf("opening KV %s: %w", proto.BucketWorkers, err)
	}
	parser, _ := mts.NewParser(cfg.MTSBaseURLs...)
	m := cfg.Metrics
	if m == nil {
		m = ops.NewMetrics(proto.RoleCoordinator)
	}
	return &Coordinator{cfg: cfg, nc: nc, js: js, store: store, ff: ff, parser: parser,
		log: cfg.Log.With().Str("worker", cfg.WorkerID).Logger(), jobs: &jobStore{kv: kv}, wkv: wkv,
		flows: map[string]*resolvedJob{}, premixSlot: make(chan struct{}, 1), premixes: map[string]*runningPremix{}, now: time.Now, metrics: m}, nil
}

// Run serves until ctx is canceled: the micro service, the intake, result
// and finalize consumers, and presence. On start it resumes every unfinished
// job from its record.
func (c *Coordinator) Run(parent context.Context) error {
	// A fatal error in any loop stops them all, so Run returns and a
	// supervisor can restart the coordinator.
	ctx, stop := context.WithCancel(parent)
	defer stop()
	c.runCtx = ctx
	svc, err := c.startService(ctx)
	if err != nil {
		return err
	}
	defer svc.Stop()

	if err := c.recoverJobs(ctx); err != nil {
		c.log.Error().Err(err).Msg("resuming jobs")
	}
	consumer := func(stream, name string) (jetstream.Consumer, error) {
		cons, err := c.js.Consumer(ctx, stream, name)
		if err != nil {
			return nil, fmt.Errorf("opening consumer %s/%s (provision the streams first): %w", stream, name, err)
		}
		return cons, nil
	}
	intake, err := consumer(proto.StreamIntake, proto.ConsumerIntake)
	if err != nil {
		return err
	}
	results, err := consumer(proto.StreamResults, proto.ConsumerResults)
	if err != nil {
		return err
	}
	finals, err := bus.LaneConsumers(ctx, c.js, proto.StreamFinalize, proto.ConsumerFinalizers)
	if err != nil {
		return err
	}
	workers := []*bus.Worker{
		{Name: c.cfg.WorkerID + "-intake", Consumer: intake, Slots: 1, Handler: c.handleIntake, Log: c.cfg.Log},
		// One result at a time: each advances a job by compare-and-set, and
		// order within a job keeps the published tasks in timeline order.
		{Name: c.cfg.WorkerID + "-results", Consumer: results, Slots: 1, Handler: c.handleResult, Log: c.cfg.Log},
		{Name: c.cfg.WorkerID + "-finalize", Lanes: finals, Slots: c.cfg.FinalizeSlots, Handler: c.handleFinalize, Log: c.cfg.Log,
			Grace: c.cfg.DrainGrace, Observer: c.metrics},
	}
	started := c.now()
	info := func() proto.WorkerInfo {
		return proto.WorkerInfo{Type: proto.TypeWorker, ID: c.cfg.WorkerID, Host: hostname(),
			Roles: []string{proto.RoleCoordinator}, Slots: c.cfg.FinalizeSlots, Started: started, Seen: c.now(),
			Stats: c.metrics.Presence()}
	}
	presence := &bus.Presence{KV: c.wkv, Every: 10 * time.Second, Info: info}
	osvc, err := ops.StartService(c.nc, ops.ServiceConfig{Role: proto.RoleCoordinator, Version: proto.ServiceVersion, Info: info}, c.metrics)
	if err != nil {
		return err
	}
	defer osvc.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, len(workers)+1)
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	for _, w := range workers {
		run(w.Run)
	}
	run(presence.Run)
	run(c.reconcileLoop)
	run(c.sweepLoop)
	adv, err := c.watchMaxDeliveries(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = adv.Unsubscribe() }()
	c.log.Info().Msg("coordinator running")
	select {
	case <-ctx.Done():
	case err = <-errs:
		c.log.Error().Err(err).Msg("coordinator stopping on a fatal error")
	}
	stop()
	wg.Wait()
	return err
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// recoverJobs advances every unfinished job once with resume set, so tasks
// a crashed coordinator meant to publish are published (the streams drop
// the ones they already hold).
func (c *Coordinator) recoverJobs(ctx context.Context) error {
	jobs, err := c.jobs.list(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State.Terminal() {
			continue
		}
		if _, err := c.advance(ctx, j.ID, nil, true); err != nil {
			c.log.Error().Err(err).Str("job_id", j.ID).Msg("resuming job")
		}
	}
	return nil
}

// liveRenderers lists the renderers whose presence entry is current.
func (c *Coordinator) liveRenderers(ctx context.Context) []string {
	lister, err := c.wkv.ListKeys(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for key := range lister.Keys() {
		e, err := c.wkv.Get(ctx, key)
		if err != nil {
			continue
		}
		w, err := bus.Decode[proto.WorkerInfo](e.Value())
		if err != nil {
			continue
		}
		for _, r := range w.Roles {
			if r == proto.RoleRenderer {
				out = append(out, w.ID)
			}
		}
	}
	return out
}
