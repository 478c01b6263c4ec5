package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// TestE2ELecture3Hours renders a real-length lecture end to end with
// `mtsfarm run` on the embedded farm: 3 hours, the lecturer's webcam in 36
// five-minute chunks, a 40-minute screen share, 32 audio-only students
// speaking in turn, 24 slides (scripts/scenarios/lecture-3h-class.json), at
// 640×360 to fit the suite (the pipeline is the same at 720p). Six units,
// two rendered at once, then one finalize that joins them and mixes 33
// voices over 3 hours: every long step must show progress from real work
// or the farm would cancel it as hung. The output is checked as the short
// end-to-end tests check theirs: duration to a frame, each layout's colors
// at sampled times, and every voice heard, at its level, only while it
// speaks. About 12 minutes on this 2-core machine (with -race).
func TestE2ELecture3Hours(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "lecture-3h-class.json")
	fake := mtstest.Start(t, sc)
	out := filepath.Join(t.TempDir(), "lecture.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	code, stdout, stderr := e2eCommand(ctx, nil, "run", "--data-dir", t.TempDir(), "--mts-base-url", fake.URL,
		"--max-height", "360", "--renderers", "2", "--progress", "lines", "-o", out, fake.RecordingURL(0))
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("mtsfarm run exited %d after %s:\n%s", code, took, tailLines(stderr, 40))
	}
	t.Logf("3-hour lecture rendered in %s (%.1f× real time): %s", took.Round(time.Second), 10800/took.Seconds(), strings.TrimSpace(stdout))
	if strings.Contains(stderr, "canceled it as hung") || strings.Contains(stderr, "warning:") {
		t.Errorf("the run was not clean:\n%s", tailLines(stderr, 40))
	}
	presenter := e2eShot{layout: proto.LayoutPresenter, main: e2eBlue, pip: e2eRed}
	slides := func(at float64, slide string) e2eShot {
		return e2eShot{at: at, layout: proto.LayoutSlides, slide: slide, column: []string{e2eRed},
			description: "a slide with the lecturer in the column"}
	}
	shots := []e2eShot{
		{at: 100, layout: proto.LayoutSingle, main: e2eRed, description: "before the first slide"},
		slides(1000, e2eMagenta),
		slides(2990, e2eYellow),
		func() e2eShot {
			s := presenter
			s.at, s.description = 4000, "the screen share over the slides"
			return s
		}(),
		func() e2eShot { s := presenter; s.at, s.description = 5990, "the screen share's last second"; return s }(),
		slides(8000, e2eCyan),
		{at: 10600, layout: proto.LayoutSingle, main: e2eRed, description: "after the presentation ended"},
	}
	e2eCheckOutput(t, out, e2eExpect{duration: sc.Webinars[0].Duration, width: 640, height: 360, fps: 25,
		shots: shots, toneWindows: []float64{50, 450, 740, 2000, 4050, 6045, 7350, 9750, 10700},
		chunks: fake.Chunks(0)})
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
