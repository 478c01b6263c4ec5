package main

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Colors of the bundled scenarios' sources.
const (
	e2eRed     = "#d02020"
	e2eGreen   = "#20a020"
	e2eBlue    = "#2040d0"
	e2eYellow  = "#e0e020"
	e2eMagenta = "#c020c0"
	e2eCyan    = "#20c0c0"
)

// e2eScenarioCase is a bundled scenario and what its output must show, by
// the layout rules (issue 4): a screenshare is shown large with the admin's
// webcam as picture-in-picture; a slide on screen gives the slides layout
// with the webcams in the right column; one video source fills the frame;
// USER webcams alone make a grid, in order of start. Every tone of the
// scenario is measured in each tone window (e2eTonesAt).
type e2eScenarioCase struct {
	file        string
	width       int
	height      int
	shots       []e2eShot
	toneWindows []float64
}

func e2eScenarioCases() []e2eScenarioCase {
	single := func(at float64, color, why string) e2eShot {
		return e2eShot{at: at, layout: proto.LayoutSingle, main: color, description: why}
	}
	grid := func(at float64, why string, colors ...string) e2eShot {
		return e2eShot{at: at, layout: proto.LayoutGrid, grid: colors, description: why}
	}
	slides := func(at float64, slide, why string) e2eShot {
		return e2eShot{at: at, layout: proto.LayoutSlides, slide: slide, column: []string{e2eRed}, description: why}
	}
	presenter := func(at float64, why string) e2eShot {
		return e2eShot{at: at, layout: proto.LayoutPresenter, main: e2eBlue, pip: e2eRed, description: why}
	}
	return []e2eScenarioCase{
		{
			// 60 s: webcam in two 30 s chunks; slides at 5, 20, 35, ended at
			// 50; a student's voice (audio only, 44.1 kHz) 40–48.
			file: "lecture-slides.json", width: 1280, height: 720,
			shots: []e2eShot{
				single(2, e2eRed, "before the first slide: the webcam alone"),
				slides(10, e2eYellow, "slide 1, webcam in the column"),
				slides(27, e2eCyan, "slide 2"),
				slides(32, e2eCyan, "slide 2, the webcam's second chunk"),
				slides(44, e2eMagenta, "slide 3 while the student speaks"),
				single(56, e2eRed, "after the presentation ended"),
			},
			toneWindows: []float64{2, 10, 32, 40.5, 44, 48.5, 56},
		},
		{
			// 60 s: webcam; a 1920×1080 screenshare 10–50 in two chunks; a
			// student's voice 30–36.
			file: "screenshare.json", width: 1280, height: 720,
			shots: []e2eShot{
				single(5, e2eRed, "before the screenshare"),
				presenter(15, "screenshare large, the admin's webcam as picture-in-picture"),
				presenter(31, "the screenshare's second chunk"),
				presenter(45, "screenshare to its end"),
				single(55, e2eRed, "after the screenshare"),
			},
			toneWindows: []float64{5, 15, 30.5, 34, 37, 55},
		},
		{
			// 30 s: six USER webcams of different sizes (the largest is
			// 640×480) joining at 0, 0, 4, 8, 12, 16; the fifth leaves at 26.
			file: "seminar-6.json", width: 640, height: 480,
			shots: []e2eShot{
				grid(2, "two webcams side by side", e2eRed, e2eGreen),
				grid(6, "three in a 2×2 grid, one cell black", e2eRed, e2eGreen, e2eBlue),
				grid(10, "four in a 2×2 grid", e2eRed, e2eGreen, e2eBlue, e2eYellow),
				grid(14, "five in a 3×2 grid, one cell black", e2eRed, e2eGreen, e2eBlue, e2eYellow, e2eMagenta),
				grid(20, "six in a 3×2 grid", e2eRed, e2eGreen, e2eBlue, e2eYellow, e2eMagenta, e2eCyan),
				grid(28, "the fifth left: five again", e2eRed, e2eGreen, e2eBlue, e2eYellow, e2eCyan),
			},
			toneWindows: []float64{1, 5, 9, 13, 17, 21, 27.5},
		},
		{
			// 40 s: the lecturer's webcam (two 20 s chunks) and 40 audio-only
			// listeners of 3 s each, one every 0.9 s from 1 s, at 48 and
			// 44.1 kHz, every fifth one silent.
			file: "audio-40.json", width: 640, height: 360,
			shots: []e2eShot{
				single(1, e2eRed, "the webcam alone on screen"),
				single(20.5, e2eRed, "the webcam's second chunk"),
				single(38.5, e2eRed, "near the end"),
			},
			toneWindows: []float64{0, 2.1, 5.5, 8.6, 12.2, 15.8, 19.5, 23.1, 26.6, 30.2, 33.8, 36.5, 38.9},
		},
	}
}

// TestE2EScenarios renders the bundled lecture, screenshare, seminar-grid
// and 40-audio-only scenarios with `mtsfarm run` (embedded farm, real
// ffmpeg, the fake MTS Link) and checks each output: geometry, duration
// equal to the API duration ±1 frame, every shown source's color in its
// rectangle and black elsewhere at sampled times, and every tone heard once,
// at its level, exactly while its source plays.
func TestE2EScenarios(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	for _, c := range e2eScenarioCases() {
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			sc := e2eScenario(t, c.file)
			fake := mtstest.Start(t, sc)
			out := filepath.Join(t.TempDir(), "out.mp4")
			code, stdout, stderr := e2eCommand(context.Background(), nil, "run", "--data-dir", t.TempDir(),
				"--mts-base-url", fake.URL, "--progress", "none", "-o", out, fake.RecordingURL(0))
			if code != 0 {
				t.Fatalf("mtsfarm run exited %d:\n%s", code, stderr)
			}
			if !strings.HasPrefix(stdout, out+"\t") {
				t.Errorf("mtsfarm run printed %q; want the output path first", stdout)
			}
			e2eCheckOutput(t, out, e2eExpect{duration: sc.Webinars[0].Duration, width: c.width, height: c.height,
				fps: 25, shots: c.shots, toneWindows: c.toneWindows, chunks: fake.Chunks(0)})
			if c.file == "lecture-slides.json" {
				// "Start" before the first slide, then one per slide.
				e2eCheckChapters(t, out, []float64{0, 5, 20, 35}, 50)
			}
		})
	}
}

// e2eCheckChapters checks the chapters: each starts where it should (one per
// slide, after a "Start" chapter when the first slide comes later than 0: an
// MP4 chapter track starts at the beginning) and the last ends where the
// presentation does.
func e2eCheckChapters(t *testing.T, file string, starts []float64, end float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_chapters", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe -show_chapters: %v", err)
	}
	var p struct {
		Chapters []struct {
			Start string `json:"start_time"`
			End   string `json:"end_time"`
		} `json:"chapters"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Chapters) != len(starts) {
		t.Fatalf("%d chapters, want %d: %s", len(p.Chapters), len(starts), out)
	}
	for i, c := range p.Chapters {
		s, _ := strconv.ParseFloat(c.Start, 64)
		e, _ := strconv.ParseFloat(c.End, 64)
		if math.Abs(s-starts[i]) > 0.01 {
			t.Errorf("chapter %d starts at %gs, want %gs", i+1, s, starts[i])
		}
		if i == len(p.Chapters)-1 && math.Abs(e-end) > 0.01 {
			t.Errorf("the last chapter ends at %gs, want %gs", e, end)
		}
	}
}
