package plan

import (
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

type mtsBool = mts.Bool

func TestFitGeometry(t *testing.T) {
	cases := []struct {
		name                     string
		sw, sh, maxH, minW, minH int
		w, h                     int
	}{
		{"1080p capped", 1920, 1080, 720, 0, 0, 1280, 720},
		{"5:4 capped (spec §4.2)", 1280, 1024, 720, 0, 0, 900, 720},
		{"thumbnail raised (spec §5.6)", 192, 108, 720, 0, 0, 640, 360},
		{"4:3 raised keeps its aspect", 320, 240, 720, 0, 0, 640, 480},
		{"odd size rounded down to even", 641, 361, 720, 0, 0, 640, 360},
		{"odd width under the cap", 853, 480, 720, 0, 0, 852, 480},
		{"1366x768 capped", 1366, 768, 720, 0, 0, 1280, 720},
		{"exactly 720p", 1280, 720, 720, 0, 0, 1280, 720},
		{"no video source", 0, 0, 720, 0, 0, 640, 360},
		{"portrait is pillarboxed at 640 wide", 360, 640, 720, 0, 0, 640, 720},
		{"ultra-wide is letterboxed at 32:9", 4000, 400, 720, 0, 0, 1422, 400},
		{"ultra-wide capped", 8000, 1000, 720, 0, 0, 2560, 720},
		{"lower cap", 1920, 1080, 480, 0, 0, 852, 480},
		{"higher cap", 1920, 1080, 1080, 0, 0, 1920, 1080},
		{"slides raise a webcam to 1280x720", 640, 360, 720, 1280, 720, 1280, 720},
		{"slides raise a 4:3 source", 960, 720, 720, 1280, 720, 1280, 720},
		{"slides with a 480 cap", 640, 360, 480, 1280, 720, 852, 480},
		{"slides with no video", 0, 0, 720, 1280, 720, 1280, 720},
		{"slides keep a bigger size", 1920, 1080, 1080, 1280, 720, 1920, 1080},
	}
	for _, c := range cases {
		w, h := fitGeometry(c.sw, c.sh, c.maxH, c.minW, c.minH)
		if w != c.w || h != c.h {
			t.Errorf("%s: fitGeometry(%dx%d, max %d, min %dx%d) = %dx%d, want %dx%d", c.name, c.sw, c.sh, c.maxH, c.minW, c.minH, w, h, c.w, c.h)
		}
	}
}

func TestFlagsAt(t *testing.T) {
	set := func(v bool) mtsBool { return mtsBool{Value: v, Set: true} }
	evs := []confEvent{
		{time: 10, add: true, hasAudio: set(true), hasVideo: set(false)},
		{time: 20, hasAudio: set(false)},
		{time: 30, hasVideo: set(true)},
	}
	cases := []struct {
		t            float64
		audio, video bool
	}{
		{5, true, false}, // before the add: its flags, not the defaults
		{10, true, false},
		{19.9, true, false},
		{20, false, false},
		{30, false, true},
	}
	for _, c := range cases {
		if a, v := flagsAt(evs, c.t); a != c.audio || v != c.video {
			t.Errorf("flagsAt(%g) = %v, %v; want %v, %v", c.t, a, v, c.audio, c.video)
		}
	}
	if a, v := flagsAt(nil, 0); !a || !v {
		t.Error("an unknown conference has audio and video")
	}
	// An add without flags defaults them to true, after an update.
	if a, v := flagsAt([]confEvent{{time: 0, hasAudio: set(false)}, {time: 1, add: true}}, 2); !a || !v {
		t.Errorf("add without flags: %v %v", a, v)
	}
}
