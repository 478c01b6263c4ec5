package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Progress a person can read: jobMeter turns a job record and the job's
// progress events (bytes of each download, media seconds of each unit, the
// finalize stage and its fraction) into one fraction and a line of text;
// a progressView shows them, as bars on a terminal (bars.go, with mpb) or as
// plain lines, one per change worth telling.

// The share of each phase in a job's overall fraction, by the time each
// takes on a typical lecture (BENCHMARKS.md): fetching is quick, rendering
// is most of it, finalize is the rest.
const (
	weightFetch    = 0.10
	weightRender   = 0.75
	weightFinalize = 0.15
)

// finalizeStages are the finalize steps in order, with their share of
// finalize time (join and mux dominate; the decode check is the next).
var finalizeStages = []struct {
	name   string
	weight float64
}{{"probe", 0.05}, {"mix", 0.25}, {"mux", 0.40}, {"check", 0.30}}

// finalizeFraction is the fraction of finalize done when stage is at frac.
func finalizeFraction(stage string, frac float64) float64 {
	done := 0.0
	for _, s := range finalizeStages {
		if s.name == stage {
			return done + s.weight*min(1, max(0, frac))
		}
		done += s.weight
	}
	return 0
}

// jobMeter collects the per-task progress events of one job, which the job
// record does not carry.
type jobMeter struct {
	mu        sync.Mutex
	rendered  map[int]float64 // unit → media seconds rendered
	bytes     map[int]int64   // chunk → bytes downloaded
	stage     string          // finalize stage
	stageFrac float64         // fraction of that stage
	started   time.Time       // when the meter first saw work
}

func newJobMeter() *jobMeter {
	return &jobMeter{rendered: map[int]float64{}, bytes: map[int]int64{}}
}

// observe takes one event message (proto.EventSubject(job, progress)).
func (m *jobMeter) observe(msg *nats.Msg) {
	var e proto.Event
	if json.Unmarshal(msg.Data, &e) != nil {
		return
	}
	m.event(e)
}

func (m *jobMeter) event(e proto.Event) {
	if e.Progress == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Task {
	case "render":
		m.rendered[e.Index] = max(m.rendered[e.Index], e.Progress.RenderedSeconds)
	case "fetch":
		m.bytes[e.Index] = max(m.bytes[e.Index], e.Progress.BytesDone)
	case "finalize":
		m.stage = e.Message
		m.stageFrac = e.Progress.StageFraction
	}
}

// jobShot is what a view shows of a job at one moment.
type jobShot struct {
	State    proto.JobState
	Title    string
	Fraction float64 // overall, 0..1
	Phase    string  // fetch, render, finalize or the state
	Detail   string  // "2/6 units, 1:05:00 of 3:00:00" and the like
	ETA      time.Duration
	Rate     string // "3.2× real time", "12.5 MB/s"
}

// shot computes a job's progress from its record and the events seen.
func (m *jobMeter) shot(j *proto.Job, now time.Time) jobShot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := jobShot{State: j.State, Title: j.Title, Phase: string(j.State)}
	fetch, bytes := m.fetchFraction(j)
	render, secs, units := m.renderFraction(j)
	final := 0.0
	switch j.State {
	case proto.StateFinalizing:
		fetch, render = 1, 1
		final = finalizeFraction(m.stage, m.stageFrac)
	case proto.StateDone:
		fetch, render, final = 1, 1, 1
	}
	s.Fraction = weightFetch*fetch + weightRender*render + weightFinalize*final
	if m.started.IsZero() && s.Fraction > 0 {
		m.started = now
	}
	elapsed := now.Sub(m.started)
	switch {
	case j.State.Terminal():
		s.Phase = string(j.State)
	case j.State == proto.StateFinalizing:
		s.Phase, s.Detail = "finalize", m.stage
	case len(j.Units) > 0 && (render > 0 || fetch >= 1):
		s.Phase = "render"
		s.Detail = fmt.Sprintf("%d/%d units, %s of %s", units, len(j.Units), fmtSeconds(secs), fmtSeconds(j.Duration))
		if elapsed > 5*time.Second && secs > 0 {
			s.Rate = fmt.Sprintf("%.1f× real time", secs/elapsed.Seconds())
		}
	case len(j.Chunks) > 0:
		s.Phase = "fetch"
		s.Detail = fmt.Sprintf("%.0f%% of %d files, %.1f MB", fetch*100, len(j.Chunks), float64(bytes)/1e6)
		if elapsed > 2*time.Second {
			s.Rate = fmt.Sprintf("%.1f MB/s", float64(bytes)/1e6/elapsed.Seconds())
		}
	}
	// ETA from the average pace since work began: the phases' weights make
	// the fraction roughly proportional to time.
	if !j.State.Terminal() && s.Fraction > 0.02 && elapsed > 5*time.Second {
		s.ETA = time.Duration(float64(elapsed) * (1 - s.Fraction) / s.Fraction).Round(time.Second)
	}
	return s
}

// fetchFraction: chunks finished, counted by bytes where sizes are known.
func (m *jobMeter) fetchFraction(j *proto.Job) (float64, int64) {
	done := 0
	var bytes int64
	for _, c := range j.Chunks {
		if c.State == proto.TaskDone || c.State == proto.TaskInvalid || c.State == proto.TaskFailed {
			done++
			bytes += c.Bytes
		} else {
			bytes += m.bytes[c.Index]
		}
	}
	if len(j.Chunks) == 0 {
		return 0, 0
	}
	return float64(done) / float64(len(j.Chunks)), bytes
}

// renderFraction: media seconds rendered over the timeline.
func (m *jobMeter) renderFraction(j *proto.Job) (float64, float64, int) {
	var secs float64
	units := 0
	for _, u := range j.Units {
		if u.State == proto.TaskDone {
			secs += u.End - u.Start
			units++
		} else {
			secs += min(m.rendered[u.Index], u.End-u.Start)
		}
	}
	if j.Duration <= 0 || len(j.Units) == 0 {
		return 0, 0, 0
	}
	return min(1, secs/j.Duration), secs, units
}

// progressView shows the progress of one or more jobs.
type progressView interface {
	// update shows job id's latest shot.
	update(id string, s jobShot)
	// overall shows how many of total jobs have ended (archive only).
	overall(ended, total int)
	// close ends the view (bars are finished or aborted).
	close()
}

// newProgressView picks the view for mode: auto is bars on a terminal and
// lines otherwise; none shows nothing.
func newProgressView(w io.Writer, mode string) progressView {
	if mode == "auto" || mode == "" {
		mode = "lines"
		// Bars need a terminal that knows its width.
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			if _, cols, err := pty.Getsize(f); err == nil && cols >= 60 {
				mode = "bars"
			}
		}
	}
	switch mode {
	case "bars":
		return newBarsView(w)
	case "none":
		return noView{}
	}
	return &linesView{w: w, last: map[string]string{}}
}

type noView struct{}

func (noView) update(string, jobShot) {}
func (noView) overall(int, int)       {}
func (noView) close()                 {}

// linesView prints a line when a job's state or phase changes, or its
// overall fraction crosses a 10% step: a log a person can read, not one line
// per event.
type linesView struct {
	w    io.Writer
	mu   sync.Mutex
	last map[string]string
	ends string
}

func (v *linesView) update(id string, s jobShot) {
	key := fmt.Sprintf("%s %s %d", s.State, s.Phase, int(s.Fraction*10))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last[id] == key {
		return
	}
	v.last[id] = key
	line := fmt.Sprintf("%s: %s %3.0f%%", shortTitle(s.Title, id), s.Phase, s.Fraction*100)
	if s.Detail != "" {
		line += " (" + s.Detail + ")"
	}
	if s.Rate != "" {
		line += ", " + s.Rate
	}
	if s.ETA > 0 {
		line += ", ETA " + s.ETA.String()
	}
	fmt.Fprintln(v.w, line)
}

func (v *linesView) overall(ended, total int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	line := fmt.Sprintf("%d of %d recordings ended", ended, total)
	if line != v.ends {
		v.ends = line
		fmt.Fprintln(v.w, line)
	}
}

func (v *linesView) close() {}

// shortTitle is a title cut to 40 characters, or the job id without one.
func shortTitle(title, id string) string {
	if title == "" {
		return id
	}
	r := []rune(title)
	if len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return title
}

// viewWriter is where log lines go while view shows progress: through the
// bars (above them), else straight to stderr.
func viewWriter(view progressView, stderr io.Writer) io.Writer {
	if w, ok := view.(io.Writer); ok {
		return w
	}
	return stderr
}
