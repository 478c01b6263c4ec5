package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mtsfarm/mtsfarm/proto"
)

// barScale is the resolution of a bar: a job's fraction in thousandths.
const barScale = 1000

// barsView draws progress bars with mpb: one per running job, plus one
// overall bar when several recordings are archived at once. Each job bar
// shows the phase and what has been done of it (units and media seconds,
// bytes), the rate and the ETA.
type barsView struct {
	p     *mpb.Progress
	once  sync.Once
	mu    sync.Mutex
	jobs  map[string]*jobBar
	total *mpb.Bar
}

// jobBar is one job's bar and the shot its decorators read.
type jobBar struct {
	bar  *mpb.Bar
	mu   sync.Mutex
	shot jobShot
}

func (b *jobBar) get() jobShot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shot
}

func newBarsView(w io.Writer) *barsView {
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(100), mpb.WithRefreshRate(200*time.Millisecond),
		mpb.ForceAutoRefresh())
	return &barsView{p: p, jobs: map[string]*jobBar{}}
}

// Write prints b above the bars (log lines).
func (v *barsView) Write(b []byte) (int, error) { return v.p.Write(b) }

func (v *barsView) update(id string, s jobShot) {
	v.mu.Lock()
	jb := v.jobs[id]
	if jb == nil {
		jb = &jobBar{shot: s}
		jb.bar = v.p.AddBar(barScale, mpb.BarWidth(24), mpb.BarPriority(len(v.jobs)+1),
			mpb.PrependDecorators(
				decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%-31s ", barTitle(jb.get().Title, id)) }),
				decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%-9s", jb.get().Phase) })),
			mpb.AppendDecorators(
				decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%3.0f%%", jb.get().Fraction*100) }),
				decor.Any(func(decor.Statistics) string { return barDetail(jb.get()) })),
			mpb.BarFillerClearOnAbort())
		v.jobs[id] = jb
	}
	v.mu.Unlock()
	jb.mu.Lock()
	jb.shot = s
	jb.mu.Unlock()
	switch {
	case s.State == proto.StateDone:
		jb.bar.SetCurrent(barScale)
	case s.State.Terminal():
		jb.bar.Abort(false)
	default:
		jb.bar.SetCurrent(min(barScale-1, int64(s.Fraction*barScale)))
	}
}

// barTitle is a title cut to 30 characters.
func barTitle(title, id string) string {
	r := []rune(shortTitle(title, id))
	if len(r) > 30 {
		return string(r[:29]) + "…"
	}
	return string(r)
}

// barDetail is the text right of a bar: detail, rate, ETA.
func barDetail(s jobShot) string {
	text := s.Detail
	if s.Rate != "" {
		text += ", " + s.Rate
	}
	if s.ETA > 0 {
		text += ", ETA " + s.ETA.String()
	}
	if s.State.Terminal() {
		text = string(s.State)
	}
	return " " + text
}

func (v *barsView) overall(ended, total int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.total == nil {
		v.total = v.p.AddBar(int64(total), mpb.BarWidth(24), mpb.BarPriority(0),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-42s", "course")),
				decor.CountersNoUnit("%d/%d ended")),
			mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.AverageETA(decor.ET_STYLE_GO)))
	}
	v.total.SetCurrent(int64(ended))
}

// close finishes every bar (a job still running when the view closes, on
// Ctrl-C, is aborted) and waits for the last frame.
func (v *barsView) close() { v.once.Do(v.finish) }

func (v *barsView) finish() {
	v.mu.Lock()
	for _, jb := range v.jobs {
		if !jb.bar.Completed() {
			jb.bar.Abort(false)
		}
	}
	if v.total != nil && !v.total.Completed() {
		v.total.Abort(false)
	}
	v.mu.Unlock()
	v.p.Wait()
}
