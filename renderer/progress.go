package renderer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// attempt renders u one way, with ffmpeg's -progress driving the task's
// heartbeats, progress events (at most one per ProgressEvery) and the stall
// watchdog.
func (w *Worker) attempt(ctx context.Context, t *bus.Task, u proto.RenderUnit, urls map[string]string, a attempt,
	dir string, log zerolog.Logger) (Output, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &progress{started: time.Now(), advanced: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.watch(actx, stop, cancel, u, p) })
	log.Debug().Msg("ffmpeg started")
	out, err := RenderFiles(actx, w.deps.FFmpeg, u, urls, a.encoder, a.cuda, dir, func(pr ffmpeg.Progress) {
		if p.update(pr) {
			t.Progress()
		}
	})
	close(stop)
	wg.Wait()
	if err != nil && ctx.Err() == nil && context.Cause(actx) == ErrStalled {
		return out, fmt.Errorf("unit %d of job %s with %s: %w (%s): killed it", u.Index, u.Job, describe(a.encoder, a.cuda),
			ErrStalled, w.cfg.StallTimeout)
	}
	return out, err
}

// progress is what ffmpeg last reported.
type progress struct {
	mu       sync.Mutex
	last     ffmpeg.Progress
	started  time.Time
	advanced time.Time // when the output last grew
	reported time.Duration
}

// update records a progress block and reports whether the output advanced.
func (p *progress) update(pr ffmpeg.Progress) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	adv := pr.OutTime > p.last.OutTime || pr.Frame > p.last.Frame || pr.TotalSize > p.last.TotalSize
	p.last = pr
	if adv {
		p.advanced = time.Now()
	}
	return adv
}

func (p *progress) snapshot() (ffmpeg.Progress, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.advanced
}

// watch publishes progress events and kills a stalled ffmpeg (cancel with
// ErrStalled) until stop is closed or ctx ends. When ffmpeg finished, the
// final progress is published too.
func (w *Worker) watch(ctx context.Context, stop <-chan struct{}, cancel context.CancelCauseFunc, u proto.RenderUnit, p *progress) {
	tick := time.NewTicker(min(w.cfg.ProgressEvery, w.cfg.StallTimeout/4))
	defer tick.Stop()
	lastEvent := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			if last, _ := p.snapshot(); last.End && last.OutTime != p.reported {
				w.progressEvent(ctx, u, last)
			}
			return
		case now := <-tick.C:
			last, advanced := p.snapshot()
			if now.Sub(advanced) > w.cfg.StallTimeout {
				w.log.Warn().Str("job_id", u.Job).Int("unit", u.Index).Dur("stall_timeout", w.cfg.StallTimeout).
					Dur("rendered", last.OutTime).Msg("ffmpeg stalled: killing it")
				cancel(ErrStalled)
				return
			}
			if now.Sub(lastEvent) < w.cfg.ProgressEvery || last.OutTime == p.reported {
				continue
			}
			lastEvent, p.reported = now, last.OutTime
			w.progressEvent(ctx, u, last)
		}
	}
}

// progressEvent tells watchers how far the unit is. Fraction and
// RenderedSeconds are the unit's own (Task render, Index the unit).
func (w *Worker) progressEvent(ctx context.Context, u proto.RenderUnit, last ffmpeg.Progress) {
	done := min(last.OutTime.Seconds(), u.Duration())
	w.event(ctx, proto.Event{Kind: proto.EventProgress, Job: u.Job, Index: u.Index,
		Message:  fmt.Sprintf("unit %d: %.0f of %.0f s rendered (%.1fx)", u.Index, done, u.Duration(), last.Speed),
		Progress: &proto.Progress{Stage: "render", Fraction: done / u.Duration(), RenderedSeconds: done}})
}
