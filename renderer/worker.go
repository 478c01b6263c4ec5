package renderer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Sentinels of a unit's fate on this worker.
var (
	// ErrStalled: ffmpeg's output did not advance for the stall timeout; it
	// was killed and the unit handed back.
	ErrStalled = errors.New("ffmpeg made no progress for the stall timeout")
)

// handBackDelay is how long a unit this worker must not render waits before
// it is delivered again (to any renderer), after its attempt-th delivery.
// The first few hand-backs are quick, so a free renderer that may render it
// gets it at once; then the wait grows (10 s per delivery, at most 5
// minutes), because every hand-back is a delivery and a unit has
// proto.MaxDeliver of them: while the one allowed renderer renders another
// 30-minute unit, quick hand-backs by excluded renderers would use them all
// up in a minute and fail the job. With this schedule they last about three
// hours. It is jittered: the handing-back worker pulls again at once, so a
// fixed delay would hand the unit to it at the same point of its pull cycle
// every time, starving the other renderers.
func handBackDelay(attempt int) time.Duration {
	const quick, step, most = 3, 10 * time.Second, 5 * time.Minute
	if attempt <= quick {
		return retry.Between(time.Second, 3*time.Second)
	}
	d := min(time.Duration(attempt)*step, most)
	return retry.Between(d, d+d/5)
}

// Worker is one renderer node: it takes render units from the renderers
// consumer and renders each with one ffmpeg process.
type Worker struct {
	cfg     Config
	deps    Deps
	log     zerolog.Logger
	root    string // WorkDir/WorkerID
	started time.Time
	caps    ffmpeg.Capabilities

	// cancels stops the units of a job the coordinator cancels; its
	// running tasks are the presence entry's current units.
	cancels *bus.Cancels

	metrics *ops.Metrics

	mu       sync.Mutex
	cpuUntil time.Time // NVENC was OOM-killed: libx264 until then
}

// New checks cfg and deps and returns a Worker; Run starts it.
func New(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	m := deps.Metrics
	if m == nil {
		m = ops.NewMetrics(proto.RoleRenderer)
	}
	return &Worker{cfg: cfg, deps: deps, log: deps.Log.With().Str("worker", cfg.WorkerID).Logger(),
		root: filepath.Join(cfg.WorkDir, cfg.WorkerID), cancels: bus.NewCancels(deps.Log), metrics: m}, nil
}

// Run renders units until ctx ends; then it hands running units back,
// removes its temp files and its presence entry, and returns. It returns an
// error only when it cannot work at all (no usable encoder, no consumer).
func (w *Worker) Run(ctx context.Context) error {
	w.started = time.Now().UTC()
	w.caps = w.deps.FFmpeg.Detect(ctx)
	if err := w.checkEncoders(); err != nil {
		return err
	}
	// Temp files of an earlier process with this id are stale.
	if err := os.RemoveAll(w.root); err != nil {
		return fmt.Errorf("renderer: clearing the work dir %s: %w", w.root, err)
	}
	if err := os.MkdirAll(w.root, 0o700); err != nil {
		return fmt.Errorf("renderer: creating the work dir %s: %w (set --work-dir)", w.root, err)
	}
	defer os.RemoveAll(w.root)
	sub, err := w.cancels.Subscribe(w.deps.JS.Conn())
	if err != nil {
		return fmt.Errorf("renderer: subscribing to %s: %w", proto.CancelFilter, err)
	}
	defer sub.Unsubscribe()
	lanes, err := bus.LaneConsumers(ctx, w.deps.JS, proto.StreamRender, proto.ConsumerRenderers)
	if err != nil {
		return fmt.Errorf("renderer: %w", err)
	}
	kv, err := w.deps.JS.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		return fmt.Errorf("renderer: opening KV bucket %s: %w (is the farm provisioned?)", proto.BucketWorkers, err)
	}
	presence := &bus.Presence{KV: kv, Info: w.info, Every: w.cfg.PresenceEvery, Log: w.deps.Log}
	stopPresence := presence.Start(ctx)
	w.log.Info().Int("slots", w.cfg.Slots).Str("encoder", w.cfg.Encoder).Strs("encoders", w.caps.Encoders).
		Bool("cuda_filters", w.caps.CUDAFilters && w.cfg.CUDA).Str("gpu", w.caps.GPU).Msg("renderer started")
	svc, err := ops.StartService(w.deps.JS.Conn(), ops.ServiceConfig{Role: proto.RoleRenderer, Version: w.cfg.Version, Info: w.info}, w.metrics)
	if err != nil {
		stopPresence()
		return fmt.Errorf("renderer: %w", err)
	}
	defer svc.Stop()
	bw := &bus.Worker{Name: w.cfg.WorkerID, Lanes: lanes, Slots: w.cfg.Slots, AckWait: w.cfg.AckWait,
		PollWait: w.cfg.PollWait, Grace: w.cfg.DrainGrace, Observer: w.metrics, Log: w.deps.Log, Handler: bus.Typed(w.handle)}
	err = bw.Run(ctx)
	stopPresence()
	w.log.Info().Msg("renderer stopped")
	return err
}

// checkEncoders refuses to start without an encoder the configuration
// allows.
func (w *Worker) checkEncoders() error {
	hasX264 := slices.Contains(w.caps.Encoders, EncoderX264)
	switch {
	case w.cfg.Encoder == EncoderNVENC && !w.caps.NVENC:
		return errors.New("renderer: --encoder h264_nvenc, but a test encode with h264_nvenc failed here: check the NVIDIA driver and ffmpeg's NVENC support, or use --encoder auto")
	case w.cfg.Encoder == EncoderX264 && !hasX264:
		return errors.New("renderer: --encoder libx264, but this ffmpeg cannot encode with libx264: install an ffmpeg built with libx264 (scripts/test.sh does)")
	case !hasX264 && !w.caps.NVENC:
		return errors.New("renderer: this ffmpeg has neither libx264 nor a working h264_nvenc: install an ffmpeg built with libx264 (scripts/test.sh does)")
	}
	return nil
}

// encoders are the encoders this worker offers (presence).
func (w *Worker) encoders() []string {
	var out []string
	for _, e := range w.caps.Encoders {
		if w.cfg.Encoder == EncoderAuto || w.cfg.Encoder == e {
			out = append(out, e)
		}
	}
	return out
}

// info is the presence entry.
func (w *Worker) info() proto.WorkerInfo {
	host, _ := os.Hostname()
	cur := w.cancels.Running()
	return proto.WorkerInfo{Type: proto.TypeWorker, ID: w.cfg.WorkerID, Host: host, Roles: []string{proto.RoleRenderer},
		Encoders: w.encoders(), GPU: w.caps.GPU, CUDA: w.caps.CUDAFilters && w.cfg.CUDA, Slots: w.cfg.Slots,
		Current: cur, Version: w.cfg.Version, Started: w.started, Stats: w.metrics.Presence()}
}

// handle renders one unit. The outcome is published as a UnitResult before
// the message is settled: done → ack; failed on this worker → term (the
// coordinator decides whether another renderer tries). Errors a later
// delivery may not have (the store or NATS unreachable, a stall) return
// without a result, so the unit is handed back with backoff.
func (w *Worker) handle(ctx context.Context, t *bus.Task, u proto.RenderUnit) error {
	log := w.log.With().Str("job_id", u.Job).Int("unit", u.Index).Int("generation", u.Generation).
		Int("attempt", t.Attempt()).Logger()
	if slices.Contains(u.ExcludeWorkers, w.cfg.WorkerID) {
		log.Info().Msg("this worker is excluded from the unit: handing it back")
		return bus.RetryAfter(fmt.Errorf("unit %d of job %s excludes worker %s: handed back for another renderer",
			u.Index, u.Job, w.cfg.WorkerID), handBackDelay(t.Attempt()))
	}
	uctx, done, err := w.cancels.Begin(ctx, u.Job, u.JobGeneration, fmt.Sprintf("%s/%d", u.Job, u.Index))
	if err != nil {
		log.Info().Msg("the job was canceled: dropping the unit")
		return bus.Permanent(fmt.Errorf("unit %d of job %s: %w", u.Index, u.Job, err))
	}
	defer done()
	start := time.Now()
	log.Info().Float64("start", u.Start).Float64("end", u.End).Int("windows", len(u.Windows)).Msg("rendering unit")
	res, err := w.render(uctx, t, u, log)
	if uctx.Err() != nil {
		cause := context.Cause(uctx)
		if errors.Is(cause, bus.ErrJobCanceled) {
			log.Info().Msg("the job was canceled: render stopped, unit dropped")
			return bus.Permanent(fmt.Errorf("unit %d of job %s: %w", u.Index, u.Job, bus.ErrJobCanceled))
		}
		return cause // shutdown or hung: the worker loop already settled the message
	}
	var tr *transientError
	var hb *handBackError
	switch {
	case err == nil:
	case errors.As(err, &hb):
		log.Warn().Err(err).Msg("handing the unit back")
		return bus.RetryAfter(err, hb.after)
	case errors.Is(err, ErrStalled), errors.As(err, &tr):
		log.Warn().Err(err).Msg("unit not rendered; handing it back")
		reason := "transient"
		if errors.Is(err, ErrStalled) {
			reason = "stalled"
		}
		w.metrics.Failure("render", reason, fmt.Sprintf("unit %d of job %s: %v", u.Index, u.Job, err))
		w.event(ctx, proto.Event{Kind: proto.EventError, Job: u.Job, Index: u.Index,
			Message: fmt.Sprintf("unit %d: %v; handed back to be rendered again", u.Index, err)})
		return err
	default:
		log.Error().Err(err).Msg("unit failed on this worker")
		res = proto.UnitResult{Status: proto.UnitFailed, Error: failureMessage(u, w.cfg.WorkerID, err)}
		w.metrics.Failure("render", "unit_failed", res.Error)
	}
	res.Type, res.Job, res.Index, res.Generation, res.Worker = proto.TypeUnitResult, u.Job, u.Index, u.Generation, w.cfg.WorkerID
	res.Elapsed = time.Since(start).Seconds()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	msgID := proto.MsgID(u.Job, "rendered-"+res.Status, u.Index, u.Generation)
	if perr := bus.Publish(pctx, w.deps.JS, proto.ResultSubject(u.Job, proto.ResultRender), res, msgID); perr != nil {
		// A redelivery finds the unit stored and publishes again.
		log.Warn().Err(perr).Msg("publishing the unit result failed; handing the unit back")
		return perr
	}
	if res.Status == proto.UnitFailed {
		return bus.Permanent(err)
	}
	if res.Encoder != "" { // rendered here, not found stored by an earlier delivery
		w.metrics.Rendered(u.End-u.Start, time.Since(start))
	}
	log.Info().Str("encoder", res.Encoder).Float64("duration", res.Duration).Float64("elapsed", res.Elapsed).Msg("unit rendered")
	return nil
}

// transientError marks a failure of the surroundings (object store, NATS),
// not of the unit: the unit is handed back without a result.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// handBackError: this worker cannot render the unit now (no encoder the
// unit asks for); another renderer may.
type handBackError struct {
	err   error
	after time.Duration
}

func (e *handBackError) Error() string { return e.err.Error() }
func (e *handBackError) Unwrap() error { return e.err }

// failureMessage is the error of a failed UnitResult: what failed, where,
// and ffmpeg's last words, within 1 KB.
func failureMessage(u proto.RenderUnit, worker string, err error) string {
	msg := fmt.Sprintf("rendering unit %d (%s–%s of the recording) on renderer %s failed: %v",
		u.Index, clock(u.Start), clock(u.End), worker, err)
	if len(msg) > 1000 {
		msg = msg[:300] + " … " + msg[len(msg)-600:]
	}
	return msg
}

// clock formats seconds as h:mm:ss.
func clock(s float64) string {
	t := int(s)
	return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
}

// render makes the unit's files and stores them: inputs resolved in the
// store, ffmpeg run with the encoders this worker and the unit allow
// (NVENC with CUDA filters, NVENC, then libx264), the output checked and
// uploaded.
func (w *Worker) render(ctx context.Context, t *bus.Task, u proto.RenderUnit, log zerolog.Logger) (proto.UnitResult, error) {
	if res, ok := w.stored(ctx, u, log); ok {
		return res, nil
	}
	attempts, err := w.attempts(u)
	if err != nil {
		return proto.UnitResult{}, err
	}
	urls, err := w.inputs(ctx, u)
	if err != nil {
		return proto.UnitResult{}, err
	}
	dir, err := os.MkdirTemp(w.root, fmt.Sprintf("%s-%d-g%d-", u.Job, u.Index, u.Generation))
	if err != nil {
		return proto.UnitResult{}, &transientError{fmt.Errorf("creating a temp dir for unit %d: %w", u.Index, err)}
	}
	defer os.RemoveAll(dir)
	var out Output
	repaired := false
	for i := 0; i < len(attempts); i++ {
		a := attempts[i]
		alog := log.With().Str("encoder", describe(a.encoder, a.cuda)).Logger()
		out, err = w.attempt(ctx, t, u, urls, a, dir, alog)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, ErrStalled) {
			return proto.UnitResult{}, err
		}
		if ffmpeg.Transient(err) {
			// An input URL failed for a moment (the store's 5xx, a reset):
			// not the media's fault nor the encoder's.
			return proto.UnitResult{}, &transientError{err}
		}
		var xe *ffmpeg.ExitError
		if a.encoder == EncoderNVENC && errors.As(err, &xe) && xe.OOMKilled() {
			// Spec §5.11: retry at once on libx264, and stay on the CPU.
			alog.Warn().Err(err).Dur("cooldown", w.cfg.CPUCooldown).Msg("NVENC render was OOM-killed: retrying with libx264")
			w.mu.Lock()
			w.cpuUntil = time.Now().Add(w.cfg.CPUCooldown)
			w.mu.Unlock()
			for i+1 < len(attempts) && attempts[i+1].encoder == EncoderNVENC {
				i++
			}
			continue
		}
		if !repaired {
			repaired = true
			fixed, fixedURLs, changes, rerr := w.repair(ctx, u, urls)
			if rerr != nil {
				return proto.UnitResult{}, rerr // the store or network, not the media: hand the unit back
			}
			if len(changes) > 0 {
				for _, c := range changes {
					alog.Warn().Str("change", c).Msg("input differs from what the unit says; rendering again")
					w.warn(ctx, u, c)
				}
				u, urls = fixed, fixedURLs
				i--
				continue
			}
		}
		if i+1 < len(attempts) {
			alog.Warn().Err(err).Str("next", describe(attempts[i+1].encoder, attempts[i+1].cuda)).Msg("render failed: trying the next way")
		}
	}
	if err != nil {
		return proto.UnitResult{}, err
	}
	if err := w.upload(ctx, t, u, out); err != nil {
		return proto.UnitResult{}, err
	}
	return proto.UnitResult{Status: proto.UnitDone, Encoder: out.Encoder, VideoKey: u.VideoKey, AudioKey: u.AudioKey,
		Duration: out.Duration}, nil
}

// attempt is one way of rendering.
type attempt struct {
	encoder string
	cuda    bool
}

// attempts lists the ways to render u on this worker, best first: the
// unit's forced encoder, else the worker's, else NVENC when it works (with
// CUDA filters first when they work too) with libx264 as the fallback.
func (w *Worker) attempts(u proto.RenderUnit) ([]attempt, error) {
	hasX264 := slices.Contains(w.caps.Encoders, EncoderX264)
	want := u.Encoding.Encoder
	if want == "" && w.cfg.Encoder != EncoderAuto {
		want = w.cfg.Encoder
	}
	w.mu.Lock()
	cooling := time.Now().Before(w.cpuUntil)
	w.mu.Unlock()
	var out []attempt
	nvenc := func() {
		if w.cfg.CUDA && w.caps.CUDAFilters {
			out = append(out, attempt{EncoderNVENC, true})
		}
		out = append(out, attempt{EncoderNVENC, false})
	}
	switch want {
	case EncoderX264:
	case EncoderNVENC:
		if !w.caps.NVENC {
			return nil, &handBackError{fmt.Errorf("unit %d asks for %s, which does not work on renderer %s", u.Index, EncoderNVENC, w.cfg.WorkerID), 30 * time.Second}
		}
		if !cooling {
			nvenc()
		}
	default:
		if w.caps.NVENC && !cooling {
			nvenc()
		}
	}
	if hasX264 {
		out = append(out, attempt{EncoderX264, false})
	}
	if len(out) == 0 {
		return nil, &handBackError{fmt.Errorf("renderer %s has no encoder for unit %d now", w.cfg.WorkerID, u.Index), 30 * time.Second}
	}
	return out, nil
}

// inputs resolves every source of u to a location ffmpeg reads with
// seeking: a presigned URL (S3) or the object's file (local store).
func (w *Worker) inputs(ctx context.Context, u proto.RenderUnit) (map[string]string, error) {
	urls := map[string]string{}
	for _, s := range u.Sources {
		if s.Kind != proto.SourceSlide && s.Duration <= 0 {
			continue
		}
		loc, err := w.deps.Store.ReadURL(ctx, s.Key, w.cfg.URLExpiry)
		if errors.Is(err, blob.ErrNotFound) {
			return nil, fmt.Errorf("source %s (%s) is not in the object store: retry the job so it is fetched again", s.ID, s.Key)
		}
		if err != nil {
			return nil, &transientError{fmt.Errorf("locating source %s (%s): %w", s.ID, s.Key, err)}
		}
		urls[s.ID] = loc
	}
	return urls, nil
}

// repair probes the inputs after a failed render and corrects what the unit
// got wrong: a file that does not probe is rendered absent, a missing audio
// track silent, a missing video track absent. It returns the corrected unit
// and URLs and what changed.
//
// Only media that is definitively missing or unreadable is rendered absent:
// a probe that failed because the object store or the network failed for a
// moment (the object's Stat fails, or ffprobe saw a 5xx, a refused or reset
// connection, a timeout: ffmpeg.Transient) returns a transient error, and
// the unit is rendered again later with every source.
func (w *Worker) repair(ctx context.Context, u proto.RenderUnit, urls map[string]string) (proto.RenderUnit, map[string]string, []string, error) {
	fixedURLs := make(map[string]string, len(urls))
	for k, v := range urls {
		fixedURLs[k] = v
	}
	u.Sources = slices.Clone(u.Sources)
	var changes []string
	for i, s := range u.Sources {
		loc, ok := urls[s.ID]
		if !ok {
			continue
		}
		info, err := w.deps.FFmpeg.Probe(ctx, loc)
		if err != nil {
			if terr := w.probeTransient(ctx, s, err); terr != nil {
				return u, urls, nil, terr
			}
		}
		switch {
		case err != nil || !info.HasVideo && !info.HasAudio:
			delete(fixedURLs, s.ID)
			changes = append(changes, fmt.Sprintf("source %s (%s) cannot be read: rendered as absent (black, silent)", s.ID, s.Key))
		case s.Kind == proto.SourceSlide:
		case s.HasVideo && !info.HasVideo:
			delete(fixedURLs, s.ID)
			changes = append(changes, fmt.Sprintf("source %s (%s) has no video track: rendered as absent", s.ID, s.Key))
		case s.HasAudio && !info.HasAudio:
			u.Sources[i].HasAudio = false
			changes = append(changes, fmt.Sprintf("source %s (%s) has no audio track: rendered silent", s.ID, s.Key))
		}
	}
	return u, fixedURLs, changes, nil
}

// probeTransient says whether a failed probe of source s was the store's or
// the network's fault: a transient error to hand the unit back with, or nil
// when the media itself is bad.
func (w *Worker) probeTransient(ctx context.Context, s proto.UnitSource, probeErr error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ffmpeg.Transient(probeErr) {
		return &transientError{fmt.Errorf("reading source %s (%s): %w", s.ID, s.Key, probeErr)}
	}
	if _, err := w.deps.Store.Stat(ctx, s.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return &transientError{fmt.Errorf("checking source %s (%s) in the object store: %w", s.ID, s.Key, err)}
	}
	return nil
}

// stored reports whether the unit's files are already stored (a redelivery
// after the upload), with the result to publish again.
func (w *Worker) stored(ctx context.Context, u proto.RenderUnit, log zerolog.Logger) (proto.UnitResult, bool) {
	for _, k := range []string{u.VideoKey, u.AudioKey} {
		if ok, err := w.deps.Store.Exists(ctx, k); err != nil || !ok {
			return proto.UnitResult{}, false
		}
	}
	loc, err := w.deps.Store.ReadURL(ctx, u.VideoKey, time.Minute)
	if err != nil {
		return proto.UnitResult{}, false
	}
	info, err := w.deps.FFmpeg.Probe(ctx, loc)
	if err != nil || info.Duration <= 0 {
		return proto.UnitResult{}, false
	}
	log.Info().Str("object_key", u.VideoKey).Msg("unit already stored: publishing its result again")
	return proto.UnitResult{Status: proto.UnitDone, VideoKey: u.VideoKey, AudioKey: u.AudioKey, Duration: info.Duration}, true
}

// upload stores the unit's video and audio, heartbeating meanwhile.
func (w *Worker) upload(ctx context.Context, t *bus.Task, u proto.RenderUnit, out Output) error {
	stop := heartbeat(t, 5*time.Second)
	defer stop()
	files := []struct{ key, path, ctype string }{
		{u.VideoKey, out.VideoPath, "video/mp2t"},
		{u.AudioKey, out.AudioPath, "audio/flac"},
	}
	for _, f := range files {
		if _, err := w.deps.Store.PutFile(ctx, f.key, f.path, blob.PutOptions{ContentType: f.ctype}); err != nil {
			return &transientError{fmt.Errorf("uploading %s: %w", f.key, err)}
		}
	}
	return nil
}

// heartbeat calls t.Progress every d until stopped.
func heartbeat(t *bus.Task, d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			t.Progress()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// warn publishes a warning event of the unit's job.
func (w *Worker) warn(ctx context.Context, u proto.RenderUnit, msg string) {
	w.event(ctx, proto.Event{Kind: proto.EventWarning, Job: u.Job, Index: u.Index,
		Message: fmt.Sprintf("unit %d: %s", u.Index, msg)})
}

// event publishes e (best effort: events are for watchers).
func (w *Worker) event(ctx context.Context, e proto.Event) {
	e.Type, e.Time, e.Task, e.Worker = proto.TypeEvent, time.Now().UTC(), "render", w.cfg.WorkerID
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := bus.Publish(pctx, w.deps.JS, proto.EventSubject(e.Job, e.Kind), e, ""); err != nil {
		w.log.Debug().Err(err).Str("job_id", e.Job).Str("kind", e.Kind).Msg("publishing an event failed")
	}
}
