package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

// Worker is one fetcher node.
type Worker struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	policy *Policy
	parser *mts.Parser
	client *http.Client
	mts    *mts.Client
	hosts  *hostLimiter
	dl     *downloader
	// root is this worker's temp directory (WorkDir/WorkerID).
	root    string
	started time.Time

	// cancels stops the tasks of a job the coordinator cancels.
	cancels *bus.Cancels
	metrics *ops.Metrics

	mu      sync.Mutex
	current map[string]int
}

// New checks cfg and deps and returns a Worker; Run starts it.
func New(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	policy, err := NewPolicy(cfg.policyEntries()...)
	if err != nil {
		return nil, err
	}
	parser, err := mts.NewParser(cfg.MTSBaseURLs...)
	if err != nil {
		return nil, err
	}
	log := deps.Log.With().Str("worker", cfg.WorkerID).Logger()
	client := newHTTPClient(policy, cfg.ConnectTimeout, nil)
	mc := mts.NewClient()
	mc.OnRetry = func(rec mts.Recording, attempt int, retryIn time.Duration, err error) {
		log.Warn().Err(err).Str("recording", rec.Redacted()).Int("attempt", attempt).Dur("retry_in", retryIn).
			Msg("flow request failed; retrying")
	}
	mc.HTTP = client
	// The flow request heartbeats while it waits (see resolve), but keep
	// its whole retry budget near one ack wait anyway.
	mc.AttemptTimeout = time.Minute
	mc.Attempts = 4
	mc.BaseDelay = cfg.RetryBase
	mc.MaxDelay = cfg.RetryMax
	mc.MaxWait = max(cfg.RetryMax, time.Minute)
	w := &Worker{
		cfg: cfg, deps: deps, log: log, policy: policy, parser: parser, client: client, mts: mc,
		hosts: newHostLimiter(cfg.PerHost),
		dl: &downloader{client: client, userAgent: cfg.UserAgent, backoff: retry.Backoff{Base: cfg.RetryBase, Max: cfg.RetryMax},
			maxFailures: cfg.NetFailures, maxInlineWait: cfg.MaxRetryAfter, stall: cfg.StallTimeout,
			maxBytes: cfg.MaxChunkBytes, log: log},
		root:    filepath.Join(cfg.WorkDir, cfg.WorkerID),
		current: map[string]int{}, cancels: bus.NewCancels(log), metrics: deps.Metrics,
	}
	if w.metrics == nil {
		w.metrics = ops.NewMetrics(proto.RoleFetcher)
	}
	return w, nil
}

// Policy is the URL policy the worker enforces.
func (w *Worker) Policy() *Policy { return w.policy }

// Run works on fetch tasks until ctx ends; then it hands running tasks back,
// removes its temp files and its presence entry, and returns. It returns an
// error only when it cannot work at all.
func (w *Worker) Run(ctx context.Context) error {
	w.started = time.Now().UTC()
	// Temp files of an earlier process with this id are stale.
	if err := os.RemoveAll(w.root); err != nil {
		return fmt.Errorf("fetcher: clearing the work dir %s: %w", w.root, err)
	}
	if err := os.MkdirAll(w.root, 0o700); err != nil {
		return fmt.Errorf("fetcher: creating the work dir %s: %w (set --work-dir)", w.root, err)
	}
	defer os.RemoveAll(w.root)
	lanes, err := bus.LaneConsumers(ctx, w.deps.JS, proto.StreamFetch, proto.ConsumerFetchers)
	if err != nil {
		return fmt.Errorf("fetcher: %w", err)
	}
	kv, err := w.deps.JS.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		return fmt.Errorf("fetcher: opening KV bucket %s: %w (is the farm provisioned?)", proto.BucketWorkers, err)
	}
	sub, err := w.cancels.Subscribe(w.deps.JS.Conn())
	if err != nil {
		return fmt.Errorf("fetcher: subscribing to %s: %w", proto.CancelFilter, err)
	}
	defer sub.Unsubscribe()
	presence := &bus.Presence{KV: kv, Info: w.info, Every: w.cfg.PresenceEvery, Log: w.deps.Log}
	stopPresence := presence.Start(ctx)
	w.log.Info().Int("slots", w.cfg.Slots).Int("per_host", w.cfg.PerHost).Strs("allowed_hosts", w.policy.Hosts()).
		Msg("fetcher started")
	svc, err := ops.StartService(w.deps.JS.Conn(), ops.ServiceConfig{Role: proto.RoleFetcher, Version: w.cfg.Version, Info: w.info}, w.metrics)
	if err != nil {
		stopPresence()
		return fmt.Errorf("fetcher: %w", err)
	}
	defer svc.Stop()
	bw := &bus.Worker{Name: w.cfg.WorkerID, Lanes: lanes, Slots: w.cfg.Slots, AckWait: w.cfg.AckWait, PollWait: w.cfg.PollWait, Log: w.deps.Log,
		Grace: w.cfg.DrainGrace, Observer: w.metrics, Handler: w.decode}
	err = bw.Run(ctx)
	stopPresence()
	w.log.Info().Msg("fetcher stopped")
	return err
}

// info is the presence entry.
func (w *Worker) info() proto.WorkerInfo {
	host, _ := os.Hostname()
	w.mu.Lock()
	cur := make([]string, 0, len(w.current))
	for k := range w.current {
		cur = append(cur, k)
	}
	w.mu.Unlock()
	sort.Strings(cur)
	return proto.WorkerInfo{Type: proto.TypeWorker, ID: w.cfg.WorkerID, Host: host, Roles: []string{proto.RoleFetcher},
		Slots: w.cfg.Slots, Current: cur, Version: w.cfg.Version, Started: w.started, Stats: w.metrics.Presence()}
}

func (w *Worker) track(task proto.FetchTask) func() {
	k := fmt.Sprintf("%s/%s/%d", task.Job, task.Kind, task.Index)
	w.mu.Lock()
	w.current[k]++
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		if w.current[k]--; w.current[k] <= 0 {
			delete(w.current, k)
		}
		w.mu.Unlock()
	}
}

// decode decodes a task and hands it to handle. A task that fails
// validation is terminated with the reason and, when its job is readable,
// also reported to the job as a failed result, so the job does not wait for
// it (a flow naming a file: URL, say).
func (w *Worker) decode(ctx context.Context, t *bus.Task) error {
	task, err := bus.Decode[proto.FetchTask](t.Data())
	if err == nil {
		return w.handle(ctx, t, task)
	}
	var raw proto.FetchTask
	if json.Unmarshal(t.Data(), &raw) == nil && proto.ValidJobID(raw.Job) && raw.Index >= 0 && raw.Generation >= 0 {
		res := failedResult(fmt.Sprintf("the fetch task is invalid and was dropped: %v", err))
		res.Type, res.Job, res.Kind, res.Index, res.Generation, res.Worker =
			proto.TypeFetchResult, raw.Job, raw.Kind, raw.Index, raw.Generation, w.cfg.WorkerID
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if perr := bus.Publish(pctx, w.deps.JS, proto.ResultSubject(raw.Job, proto.ResultFetch), res,
			proto.MsgID(raw.Job, "fetched-"+raw.Kind, raw.Index, raw.Generation)); perr != nil {
			w.log.Warn().Err(perr).Str("job_id", raw.Job).Msg("reporting an invalid fetch task failed")
		}
	}
	return bus.Permanent(err)
}

// handle does one fetch task. The outcome is published as a FetchResult
// before the message is settled: stored and invalid results are acked,
// failed ones terminated. Errors that a later delivery may not have
// (network, 5xx, the store unreachable) return without a result, so the
// task is redelivered with backoff, until MaxDeliveries.
func (w *Worker) handle(bctx context.Context, t *bus.Task, task proto.FetchTask) error {
	start := time.Now()
	defer w.track(task)()
	log := w.log.With().Str("job_id", task.Job).Str("kind", task.Kind).Int("index", task.Index).
		Str("object_key", task.Key).Int("attempt", t.Attempt()).Logger()
	ctx, done, err := w.cancels.Begin(bctx, task.Job, task.Generation, fmt.Sprintf("%s/%s-%d", task.Job, task.Kind, task.Index))
	if err != nil {
		log.Info().Msg("the job was canceled: dropping the task")
		return bus.Permanent(fmt.Errorf("%s task %d of job %s: %w", task.Kind, task.Index, task.Job, err))
	}
	defer done()
	if task.Session != "" {
		log = log.With().Str("session", task.Session).Logger()
	}
	log.Debug().Str("url", redact(task.URL)).Msg("fetch task started")
	var res proto.FetchResult
	switch task.Kind {
	case proto.FetchResolve:
		res, err = w.resolve(ctx, t, task, log)
	case proto.FetchMedia:
		res, err = w.media(ctx, t, task, log)
	case proto.FetchSlide:
		res, err = w.slide(ctx, t, task, log)
	default:
		return bus.Permanent(fmt.Errorf("unknown fetch kind %q", task.Kind))
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, bus.ErrJobCanceled) {
			log.Info().Msg("the job was canceled: fetch stopped, task dropped")
			return bus.Permanent(fmt.Errorf("%s task %d of job %s: %w", task.Kind, task.Index, task.Job, cause))
		}
		// Shutdown (the message was handed back) or hung: no result.
		return context.Cause(ctx)
	}
	if err != nil {
		if t.Attempt() < w.cfg.MaxDeliveries && !retry.IsPermanent(err) {
			msg := fmt.Sprintf("fetch attempt %d failed, retrying: %v", t.Attempt(), err)
			w.metrics.Failure("fetch", "retry", task.Job+": "+msg)
			w.event(ctx, task, proto.EventError, msg)
			var rl *retryLaterError
			if errors.As(err, &rl) {
				return bus.RetryAfter(err, rl.after)
			}
			return err
		}
		res = failedResult(fmt.Sprintf("gave up after %d tries: %v", t.Attempt(), err))
		w.metrics.Failure("fetch", "gave_up", task.Job+": "+res.Error)
		res.Attempts = t.Attempt()
	}
	res.Type, res.Job, res.Kind, res.Index, res.Generation = proto.TypeFetchResult, task.Job, task.Kind, task.Index, task.Generation
	res.Worker = w.cfg.WorkerID
	res.Elapsed = time.Since(start).Seconds()
	if res.Status == proto.FetchStored {
		res.Key = task.Key
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	msgID := proto.MsgID(task.Job, "fetched-"+task.Kind, task.Index, task.Generation)
	if perr := bus.Publish(pctx, w.deps.JS, proto.ResultSubject(task.Job, proto.ResultFetch), res, msgID); perr != nil {
		// The work is done (and stored, if it was): a redelivery finds it
		// cached and publishes again.
		return fmt.Errorf("reporting the fetch result: %w", perr)
	}
	if res.Status == proto.FetchStored && !res.Cached {
		w.metrics.Fetched(res.Bytes)
	}
	ev := log.Info()
	if res.Status != proto.FetchStored {
		ev = log.Warn().Str("error", res.Error)
	}
	ev.Str("status", res.Status).Bool("cached", res.Cached).Int64("bytes", res.Bytes).
		Float64("elapsed", res.Elapsed).Msg("fetch task finished")
	if res.Status == proto.FetchFailed {
		return bus.Permanent(errors.New(res.Error))
	}
	return nil
}

func failedResult(msg string) proto.FetchResult {
	return proto.FetchResult{Status: proto.FetchFailed, Error: msg}
}

// event publishes a message event of a task, best effort.
func (w *Worker) event(ctx context.Context, task proto.FetchTask, kind, msg string) {
	eventPublisher(context.WithoutCancel(ctx), w)(proto.Event{Type: proto.TypeEvent, Job: task.Job, Kind: kind,
		Time: time.Now().UTC(), Task: taskName(task.Kind), Index: task.Index, Worker: w.cfg.WorkerID, Message: msg})
}

func taskName(kind string) string {
	if kind == proto.FetchResolve {
		return "resolve"
	}
	return "fetch"
}

// taskDir makes the temp directory of one task; the returned function
// removes it.
func (w *Worker) taskDir(task proto.FetchTask) (string, func(), error) {
	dir, err := os.MkdirTemp(w.root, fmt.Sprintf("%s-%s-%d-", task.Job, task.Kind, task.Index))
	if err != nil {
		return "", nil, retry.Permanent(fmt.Errorf("creating a temp dir under %s: %w", w.root, err))
	}
	return dir, func() {
		if err := os.RemoveAll(dir); err != nil {
			w.log.Warn().Err(err).Str("dir", dir).Msg("removing a temp dir failed")
		}
	}, nil
}
