package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

// TestProgressBarsOnTerminal runs `mtsfarm run` with its stderr on a
// pseudo-terminal, as a person sees it: the progress is drawn as bars (mpb,
// with cursor movement), and during the one long unit of the demo webinar
// the render bar advances through several media-second marks before the
// unit is done — progress from real work, not from tasks ending.
func TestProgressBarsOnTerminal(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "demo.json")
	fake := mtstest.Start(t, sc)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	dir := t.TempDir()
	var stdout syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, &cli{stdout: &stdout, stderr: tty, getenv: e2eEnv(nil)},
		[]string{"run", "--data-dir", filepath.Join(dir, "data"), "--mts-base-url", fake.URL,
			"-o", filepath.Join(dir, "demo.mp4"), fake.RecordingURL(0)})
	time.Sleep(300 * time.Millisecond) // the last frame
	tty.Close()
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if code != 0 {
		t.Fatalf("mtsfarm run exited %d:\n%s", code, tail(out, 3000))
	}
	if !bytes.Contains([]byte(out), []byte("\x1b[")) {
		t.Errorf("no cursor control on a terminal: not bars\n%s", tail(out, 2000))
	}
	// "render  NN% 0/1 units, 23s of 1m15s": the seconds rendered of the one
	// unit, seen while it is not done.
	marks := regexp.MustCompile(`render\s.*?0/1 units, (?:(\d+)m)?(\d+)s of`).FindAllStringSubmatch(out, -1)
	seen := map[int]bool{}
	last := -1
	for _, m := range marks {
		mins, _ := strconv.Atoi(m[1])
		secs, _ := strconv.Atoi(m[2])
		s := mins*60 + secs
		if s < last {
			t.Errorf("the render bar went back from %ds to %ds", last, s)
		}
		last = s
		if s > 0 && float64(s) < sc.Webinars[0].Duration {
			seen[s] = true
		}
	}
	if len(seen) < 3 {
		t.Errorf("the render bar showed %d distinct positions inside the unit (%v); want it to advance during the unit\n%s",
			len(seen), seen, tail(out, 3000))
	}
	if !regexp.MustCompile(`\d+%`).MatchString(out) || !regexp.MustCompile(`× real time|ETA`).MatchString(out) {
		t.Errorf("the bars show no percentage, rate or ETA\n%s", tail(out, 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var _ io.Writer = (*syncBuffer)(nil)
