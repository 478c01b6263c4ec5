package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"

	"github.com/mtsfarm/mtsfarm/proto"
)

// liveProgress collects the per-task progress events of a job (bytes of a
// download, seconds of a unit), which the job record does not carry.
type liveProgress struct {
	mu       sync.Mutex
	rendered map[int]float64 // unit → seconds rendered
	bytes    map[int]int64   // chunk → bytes downloaded
	stage    string          // finalize stage
}

func newLiveProgress() *liveProgress {
	return &liveProgress{rendered: map[int]float64{}, bytes: map[int]int64{}}
}

func (l *liveProgress) observe(m *nats.Msg) {
	var e proto.Event
	if json.Unmarshal(m.Data, &e) != nil || e.Progress == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Task {
	case "render":
		l.rendered[e.Index] = e.Progress.RenderedSeconds
	case "fetch":
		l.bytes[e.Index] = e.Progress.BytesDone
	case "finalize":
		l.stage = e.Message
	}
}

// progressView draws a job's progress: one bar per stage on a terminal,
// a plain line per visible change otherwise.
type progressView struct {
	w     io.Writer
	mode  string // "bars", "lines" or "none"
	drawn int    // lines drawn by the last bars update
	last  string // the last plain line
}

func newProgressView(w io.Writer, mode string) *progressView {
	if mode == "auto" || mode == "" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			mode = "bars"
		}
	}
	return &progressView{w: w, mode: mode}
}

// stages computes the fetch, render and finalize fractions of a job.
func stages(j *proto.Job, live *liveProgress) (fetch, render, final float64, fetchText, renderText string) {
	done := 0
	var bytes int64
	live.mu.Lock()
	defer live.mu.Unlock()
	for _, c := range j.Chunks {
		if c.State == proto.TaskDone || c.State == proto.TaskInvalid || c.State == proto.TaskFailed {
			done++
			bytes += c.Bytes
		} else {
			bytes += live.bytes[c.Index]
		}
	}
	if n := len(j.Chunks); n > 0 {
		fetch = float64(done) / float64(n)
		fetchText = fmt.Sprintf("%d/%d files, %.1f MB", done, n, float64(bytes)/1e6)
	}
	var secs float64
	units := 0
	for _, u := range j.Units {
		if u.State == proto.TaskDone {
			secs += u.End - u.Start
			units++
		} else {
			secs += min(live.rendered[u.Index], u.End-u.Start)
		}
	}
	if j.Duration > 0 && len(j.Units) > 0 {
		render = min(1, secs/j.Duration)
		renderText = fmt.Sprintf("%d/%d units, %s of %s", units, len(j.Units), fmtSeconds(secs), fmtSeconds(j.Duration))
	}
	switch j.State {
	case proto.StateFinalizing:
		final = 0.5
	case proto.StateDone:
		fetch, render, final = 1, 1, 1
	}
	return
}

func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func (v *progressView) update(j *proto.Job, live *liveProgress) {
	if v.mode == "none" {
		return
	}
	fetch, render, final, ft, rt := stages(j, live)
	if v.mode == "bars" {
		lines := []string{
			fmt.Sprintf("%-10s %s", j.State, j.Title),
			fmt.Sprintf("fetch    %s %3.0f%% %s", bar(fetch, 30), fetch*100, ft),
			fmt.Sprintf("render   %s %3.0f%% %s", bar(render, 30), render*100, rt),
			fmt.Sprintf("finalize %s %3.0f%% %s", bar(final, 30), final*100, live.stage),
		}
		if v.drawn > 0 {
			fmt.Fprintf(v.w, "\x1b[%dA", v.drawn)
		}
		for _, l := range lines {
			fmt.Fprintf(v.w, "\x1b[2K%s\n", l)
		}
		v.drawn = len(lines)
		return
	}
	// Lines: the state, and each stage in steps of 10%.
	line := fmt.Sprintf("%s: fetch %d%%, render %d%%, finalize %d%%", j.State,
		int(fetch*10)*10, int(render*10)*10, int(final*10)*10)
	if line != v.last {
		v.last = line
		fmt.Fprintln(v.w, line)
	}
}
