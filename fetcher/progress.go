package fetcher

import (
	"context"
	"sync"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/proto"
)

// heartbeater is the part of *bus.Task the fetch code needs.
type heartbeater interface{ Progress() }

// reporter turns bytes arriving for one task into heartbeats (every call)
// and progress events (at most one per interval). It is safe for concurrent
// use (the HLS proxy serves ffmpeg's requests in parallel).
type reporter struct {
	beat    heartbeater
	publish func(proto.Event) // nil: no events
	task    proto.FetchTask
	worker  string
	every   time.Duration
	now     func() time.Time

	mu        sync.Mutex
	done      int64
	total     int64
	lastAt    time.Time
	lastBytes int64
}

func newReporter(beat heartbeater, task proto.FetchTask, worker string, every time.Duration, publish func(proto.Event)) *reporter {
	return &reporter{beat: beat, publish: publish, task: task, worker: worker, every: every, now: time.Now,
		lastAt: time.Now(), total: -1}
}

// set records that done of total bytes (total -1 when unknown) are in.
func (r *reporter) set(done, total int64) {
	r.beat.Progress()
	r.mu.Lock()
	r.done, r.total = done, total
	ev, ok := r.due()
	r.mu.Unlock()
	if ok && r.publish != nil {
		r.publish(ev)
	}
}

// add records n more bytes (total unknown).
func (r *reporter) add(n int64) {
	r.beat.Progress()
	r.mu.Lock()
	r.done += n
	ev, ok := r.due()
	r.mu.Unlock()
	if ok && r.publish != nil {
		r.publish(ev)
	}
}

// reset starts counting again from zero (a new attempt).
func (r *reporter) reset() {
	r.mu.Lock()
	r.done, r.total, r.lastBytes = 0, -1, 0
	r.mu.Unlock()
}

// due returns the event to publish now, if one is due; r.mu is held.
func (r *reporter) due() (proto.Event, bool) {
	now := r.now()
	el := now.Sub(r.lastAt)
	if el < r.every {
		return proto.Event{}, false
	}
	rate := float64(r.done-r.lastBytes) / el.Seconds()
	if rate < 0 {
		rate = 0
	}
	r.lastAt, r.lastBytes = now, r.done
	p := &proto.Progress{Stage: "fetch", BytesDone: r.done, BytesPerSecond: rate}
	if r.total > 0 {
		p.BytesTotal = r.total
		p.Fraction = min(float64(r.done)/float64(r.total), 1)
		if rate > 0 {
			p.ETASeconds = float64(r.total-r.done) / rate
		}
	}
	return proto.Event{Type: proto.TypeEvent, Job: r.task.Job, Kind: proto.EventProgress, Time: now.UTC(),
		Task: "fetch", Index: r.task.Index, Worker: r.worker, Progress: p}, true
}

// hostLimiter bounds concurrent downloads per host.
type hostLimiter struct {
	per  int
	mu   sync.Mutex
	sems map[string]chan struct{}
}

func newHostLimiter(per int) *hostLimiter {
	return &hostLimiter{per: per, sems: map[string]chan struct{}{}}
}

// acquire waits for a free download slot on host. While it waits it keeps
// the task's message with heartbeats: the task is queued on this node
// behind downloads that are themselves watched for stalls, so the wait is
// bounded.
func (h *hostLimiter) acquire(ctx context.Context, host string, beat heartbeater) (func(), error) {
	h.mu.Lock()
	sem, ok := h.sems[host]
	if !ok {
		sem = make(chan struct{}, h.per)
		h.sems[host] = sem
	}
	h.mu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case sem <- struct{}{}:
			return func() { <-sem }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			beat.Progress()
		}
	}
}

// eventPublisher publishes events of a job, best effort (events are for
// watchers; a lost one is not an error), bounded in time.
func eventPublisher(ctx context.Context, w *Worker) func(proto.Event) {
	return func(ev proto.Event) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := bus.Publish(pctx, w.deps.JS, proto.EventSubject(ev.Job, ev.Kind), ev, ""); err != nil && ctx.Err() == nil {
			w.log.Debug().Err(err).Str("job_id", ev.Job).Msg("publishing an event failed")
		}
	}
}
