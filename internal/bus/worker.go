package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Handler does one task. Its return value decides what happens to the
// message:
//   - nil: acked (done);
//   - Permanent(err), or an error wrapping proto.ErrInvalid: terminated with
//     err as the reason, never retried;
//   - RetryAfter(err, d): redelivered after d;
//   - any other error: redelivered after an exponential backoff.
//
// ctx is canceled when the worker shuts down (context.Cause is ErrShutdown;
// the message was already handed back) or when the handler did not call
// Task.Progress for a whole AckWait (ErrHung; the message is left to be
// redelivered elsewhere). Either way what the handler returns afterwards is
// ignored.
type Handler func(ctx context.Context, t *Task) error

// Task is one delivered message being handled.
type Task struct {
	msg      jetstream.Msg
	attempt  int
	progress atomic.Uint64
}

// Data is the message body.
func (t *Task) Data() []byte { return t.msg.Data() }

// Subject is the subject the message was published to.
func (t *Task) Subject() string { return t.msg.Subject() }

// Headers are the message headers (Nats-Msg-Id among them).
func (t *Task) Headers() nats.Header { return t.msg.Headers() }

// Attempt is the delivery count: 1 on the first delivery.
func (t *Task) Attempt() int { return t.attempt }

// Progress says the work visibly advanced (bytes downloaded, ffmpeg
// progress). Call it whenever that happens, as often as you like: the worker
// keeps the message with InProgress heartbeats only while Progress is being
// called, and treats a handler that stops calling it as hung.
func (t *Task) Progress() { t.progress.Add(1) }

// Sentinels for context.Cause of a handler's context.
var (
	ErrShutdown = errors.New("worker is shutting down; the task was handed back")
	ErrHung     = errors.New("no progress for a whole ack wait; the task is left to be redelivered")
)

// Permanent marks err as a failure that retrying cannot fix (bad input, 403,
// undecodable media): the message is terminated with err as the reason.
// It is retry.Permanent, the one meaning of a permanent error.
// Permanent(nil) is nil.
func Permanent(err error) error { return retry.Permanent(err) }

// IsPermanent reports whether the worker terminates a task failing with err:
// one marked permanent, or a message that failed validation.
func IsPermanent(err error) bool {
	return retry.IsPermanent(err) || errors.Is(err, proto.ErrInvalid)
}

type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// RetryAfter marks err as transient with a known wait (a 429 with
// Retry-After, a blocked renderer): the message is redelivered after d.
// RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryError{err: err, after: d}
}

// Typed adapts a handler of decoded messages: each message is decoded as T
// first (see Decode), and one that fails is terminated with the decoding
// error as the reason, without calling h.
func Typed[T proto.Message](h func(ctx context.Context, t *Task, msg T) error) Handler {
	return func(ctx context.Context, t *Task) error {
		msg, err := Decode[T](t.Data())
		if err != nil {
			return Permanent(err)
		}
		return h(ctx, t, msg)
	}
}

// Worker pulls tasks from a durable pull consumer and runs Handler on them,
// at most Slots at a time. It pulls one message per free slot, so a worker
// never holds a message it has no slot for.
type Worker struct {
	// Name goes into every log line (key worker).
	Name string
	// Consumer is the one consumer to take tasks from, or, with Lanes set,
	// nothing.
	Consumer jetstream.Consumer
	// Lanes are the consumers of a stream's priority lanes, highest first
	// (see LaneConsumers): a free slot takes a task from the first lane that
	// has one, and waits on the last one only when none has.
	Lanes []jetstream.Consumer
	// Observer, if set, is told when each task starts and how it ended
	// (metrics).
	Observer Observer
	// Slots is how many tasks run at once (default 1).
	Slots   int
	Handler Handler
	// AckWait is the consumer's ack wait (default: read from the consumer).
	// Heartbeats go out every AckWait/3; a handler without progress for a
	// whole AckWait is treated as hung.
	AckWait time.Duration
	Log     zerolog.Logger
	// PollWait is how long one pull waits for a message (default 1s). An idle
	// worker returns from Run at most this long after its context ends; an
	// idle slot costs one pull request per PollWait.
	PollWait time.Duration
	// StopWait bounds how long Run waits, after its context ends, for
	// handlers to return (default 10s).
	StopWait time.Duration
	// Grace is how long a running task may go on after the context ends
	// (SIGTERM: drain) before it is canceled and handed back; 0 hands it
	// back at once. No new task is taken meanwhile. A rolling update with a
	// grace longer than a task loses nothing and redoes nothing.
	Grace time.Duration
}

const (
	defaultPollWait = time.Second
	defaultStopWait = 10 * time.Second
	settleTimeout   = 5 * time.Second
	pullErrorPause  = time.Second
	backoffMin      = 2 * time.Second
	backoffMax      = 60 * time.Second
	maxReasonLen    = 1024
	minBeat         = 10 * time.Millisecond
)

// Run works until ctx ends, then cancels running handlers, hands their
// messages back at once (Nak), and returns when every handler has returned
// or StopWait has passed. It returns an error only when it cannot work at
// all (no consumer, closed connection).
func (w *Worker) Run(ctx context.Context) error {
	lanes := w.Lanes
	if len(lanes) == 0 && w.Consumer != nil {
		lanes = []jetstream.Consumer{w.Consumer}
	}
	if len(lanes) == 0 || slices.Contains(lanes, nil) || w.Handler == nil {
		return fmt.Errorf("worker %s: Consumer and Handler must be set (or Lanes instead of Consumer)", w.Name)
	}
	r := &run{w: w, lanes: lanes, slots: max(w.Slots, 1), ackWait: w.AckWait, pollWait: w.PollWait, stopWait: w.StopWait,
		log: w.Log.With().Str("worker", w.Name).Logger(), obs: w.Observer}
	if r.obs == nil {
		r.obs = nopObserver{}
	}
	if r.ackWait <= 0 {
		info := lanes[0].CachedInfo()
		if info == nil {
			var err error
			if info, err = lanes[0].Info(ctx); err != nil {
				return fmt.Errorf("worker %s: reading the consumer's ack wait: %w", w.Name, err)
			}
		}
		r.ackWait = info.Config.AckWait
		if r.ackWait <= 0 {
			r.ackWait = proto.AckWait
		}
	}
	if r.pollWait <= 0 {
		r.pollWait = defaultPollWait
	}
	if r.stopWait <= 0 {
		r.stopWait = defaultStopWait
	}
	r.log.Debug().Int("slots", r.slots).Stringer("ack_wait", r.ackWait).Msg("worker started")
	errs := make(chan error, r.slots)
	var wg sync.WaitGroup
	for range r.slots {
		wg.Go(func() { errs <- r.slot(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("worker %s: %w", w.Name, err)
		}
	}
	r.log.Debug().Msg("worker stopped")
	return nil
}

// run is one Run's settled parameters.
type run struct {
	w                           *Worker
	lanes                       []jetstream.Consumer
	obs                         Observer
	slots                       int
	ackWait, pollWait, stopWait time.Duration
	log                         zerolog.Logger
}

// slot pulls one message at a time and handles it, until ctx ends. The pull
// is not canceled with ctx (a message the server sends to a canceled pull
// would wait a whole AckWait); instead a message that arrives after ctx
// ended is handed back at once.
func (r *run) slot(ctx context.Context) error {
	for ctx.Err() == nil {
		for i, cons := range r.lanes {
			last := i == len(r.lanes)-1
			var (
				batch jetstream.MessageBatch
				err   error
			)
			if last {
				batch, err = cons.Fetch(1, jetstream.FetchMaxWait(r.pollWait))
			} else {
				batch, err = cons.FetchNoWait(1)
			}
			got, err := r.drain(ctx, batch, err)
			if err != nil {
				if errors.Is(err, nats.ErrConnectionClosed) {
					return fmt.Errorf("pulling a message: %w", err)
				}
				r.log.Warn().Err(err).Msg("pulling a message failed; trying again")
				_ = retry.Sleep(ctx, pullErrorPause)
				break
			}
			if got || ctx.Err() != nil {
				break // start again from the highest lane
			}
		}
	}
	return nil
}

// drain handles the messages of one pull and reports whether there was one.
func (r *run) drain(ctx context.Context, batch jetstream.MessageBatch, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	got := false
	for msg := range batch.Messages() {
		got = true
		if ctx.Err() != nil {
			r.handBack(msg, r.log)
			continue
		}
		r.process(ctx, msg)
	}
	if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) {
		return got, err
	}
	return got, nil
}

// process runs the handler on msg, heartbeats while it progresses, and
// settles the message by the outcome.
func (r *run) process(ctx context.Context, msg jetstream.Msg) {
	t := &Task{msg: msg, attempt: 1}
	log := r.log.With().Str("subject", msg.Subject()).Logger()
	if md, err := msg.Metadata(); err == nil {
		t.attempt = int(md.NumDelivered)
		log = log.With().Int("attempt", t.attempt).Uint64("stream_seq", md.Sequence.Stream).Logger()
	}
	log.Debug().Msg("task started")
	r.obs.TaskStarted(msg.Subject())
	start := time.Now()
	outcome := OutcomeShutdown
	defer func() { r.obs.TaskFinished(msg.Subject(), outcome, time.Since(start)) }()

	hctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- call(hctx, r.w.Handler, t) }()

	tick := time.NewTicker(max(r.ackWait/3, minBeat))
	defer tick.Stop()
	seen, seenAt := t.progress.Load(), time.Now()
	stopping := ctx.Done()
	var graceOver <-chan time.Time
	for {
		select {
		case err := <-done:
			outcome = r.settle(msg, t, err, log)
			return
		case <-stopping:
			if g := r.w.Grace; g > 0 && graceOver == nil {
				log.Info().Stringer("grace", g).Msg("draining: finishing the task before stopping")
				stopping = nil
				timer := time.NewTimer(g)
				defer timer.Stop()
				graceOver = timer.C
				continue
			}
			cancel(ErrShutdown)
			r.handBack(msg, log)
			r.waitHandler(done, log)
			return
		case <-graceOver:
			log.Warn().Stringer("grace", r.w.Grace).Msg("draining: the task did not finish within the grace period; handing it back")
			cancel(ErrShutdown)
			r.handBack(msg, log)
			r.waitHandler(done, log)
			return
		case now := <-tick.C:
			if n := t.progress.Load(); n != seen {
				seen, seenAt = n, now
				if err := msg.InProgress(); err != nil {
					log.Warn().Err(err).Msg("sending a heartbeat failed")
				}
				continue
			}
			if now.Sub(seenAt) < r.ackWait {
				continue
			}
			cancel(ErrHung)
			outcome = OutcomeHung
			log.Warn().Stringer("ack_wait", r.ackWait).
				Msg("task made no progress for a whole ack wait: canceled it as hung; it will be redelivered")
			select {
			case err := <-done:
				log.Debug().AnErr("handler_error", err).Msg("hung task returned")
			case <-ctx.Done():
				// (also during a grace period: a hung task is not worth
				// waiting for)
				r.handBack(msg, log)
				r.waitHandler(done, log)
			}
			return
		}
	}
}

func (r *run) handBack(msg jetstream.Msg, log zerolog.Logger) {
	if err := msg.Nak(); err != nil {
		log.Warn().Err(err).Msg("handing the task back failed; it is redelivered after the ack wait")
		return
	}
	log.Info().Msg("shutting down: handed the task back")
}

func (r *run) waitHandler(done <-chan error, log zerolog.Logger) {
	t := time.NewTimer(r.stopWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn().Stringer("stop_wait", r.stopWait).Msg("task did not return after cancel; leaving it behind")
	}
}

// panicError is a recovered handler panic.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.value) }

func call(ctx context.Context, h Handler, t *Task) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return h(ctx, t)
}

// settle acks, terminates or naks msg by the handler's outcome, and says
// which it was.
func (r *run) settle(msg jetstream.Msg, t *Task, err error, log zerolog.Logger) Outcome {
	var (
		perr  *panicError
		retry *retryError
	)
	switch {
	case err == nil:
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		if err := msg.DoubleAck(ctx); err != nil {
			log.Error().Err(err).Msg("acking a finished task failed; it may be redelivered")
			return OutcomeRetry
		}
		log.Debug().Msg("task done")
		return OutcomeDone
	case errors.As(err, &perr):
		d := backoff(t.attempt)
		log.Error().Err(err).Bytes("stack", perr.stack).Stringer("retry_in", d).Msg("task panicked; retrying later")
		r.nak(msg, d, log)
		return OutcomePanic
	case IsPermanent(err):
		reason := err.Error()
		if len(reason) > maxReasonLen {
			reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
		}
		if err := msg.TermWithReason(reason); err != nil {
			log.Error().Err(err).Msg("terminating a failed task failed")
		}
		log.Error().Err(err).Msg("task failed permanently; terminated")
		return OutcomeFailed
	case errors.As(err, &retry):
		log.Warn().Err(err).Stringer("retry_in", retry.after).Msg("task asked to be retried later")
		r.nak(msg, retry.after, log)
		return OutcomeHandedBack
	default:
		d := backoff(t.attempt)
		log.Warn().Err(err).Stringer("retry_in", d).Msg("task failed; retrying later")
		r.nak(msg, d, log)
		return OutcomeRetry
	}
}

func (r *run) nak(msg jetstream.Msg, d time.Duration, log zerolog.Logger) {
	if err := msg.NakWithDelay(d); err != nil {
		log.Error().Err(err).Msg("naking a failed task failed; it is redelivered after the ack wait")
	}
}

// backoff is the redelivery delay after the attempt-th failed delivery:
// 2s doubling up to 60s, plus up to a quarter of jitter (never above 60s).
func backoff(attempt int) time.Duration {
	return retry.Backoff{Base: backoffMin, Max: backoffMax, Up: 0.25}.Delay(attempt)
}
