package mtstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The scenario of issue 3, as written there.
const issueScenario = `{
  "name": "Лекция 3: Конкурентность", "duration": 360, "org": 1, "event": 2,
  "event_session_id": 123, "record_file_id": 456, "private": false,
  "participants": [{"id": 101, "name": "Лектор", "role": "ADMIN"},
                   {"id": 202, "name": "Студент", "role": "USER"}],
  "streams": [
    {"kind": "webcam", "participant": 101, "start": 0, "duration": 360, "width": 640, "height": 360,
     "color": "#d02020", "tone_hz": 440, "sample_rate": 48000, "chunk_seconds": 120},
    {"kind": "screenshare", "participant": 101, "start": 120, "duration": 120, "width": 1920,
     "height": 1080, "color": "#2040d0"},
    {"kind": "audio", "participant": 202, "start": 200, "duration": 60, "tone_hz": 1000,
     "sample_rate": 44100}
  ],
  "slides": [{"at": 250, "color": "#e0e020"}, {"at": 290, "color": "#c020c0"}, {"at": 330, "end": true}],
  "faults": [{"stream": 0, "chunk": 1, "kind": "corrupt_once"}]
}`

func TestParseIssueScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(issueScenario))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Webinars) != 1 {
		t.Fatalf("%d webinars", len(sc.Webinars))
	}
	w := sc.Webinars[0]
	if w.Org != "1" || w.EventSessionID != "123" || w.RecordFileID != "456" || w.SessionCookie != DefaultSessionCookie ||
		w.PrivateStatus != 403 || w.Date != "2026-03-24" {
		t.Fatalf("ids and defaults: %+v", w)
	}
	if s := w.Streams[0]; s.chunkCount() != 3 || s.Width != 640 {
		t.Fatalf("webcam: %+v (%d chunks)", s, s.chunkCount())
	}
	if s := w.Streams[1]; s.SampleRate != 0 || s.chunkCount() != 1 || s.ChunkSeconds != 120 {
		t.Fatalf("screenshare: %+v", s)
	}
	if s := w.Streams[2]; s.SampleRate != 44100 || s.Width != 0 || s.Color != "" {
		t.Fatalf("audio: %+v", s)
	}
	if w.Slides[0].Number != 1 || w.Slides[1].Number != 2 || !w.Slides[2].End {
		t.Fatalf("slides: %+v", w.Slides)
	}
	if f := w.Faults[0]; f.Times != 1 || f.BytesPerSecond != 256<<10 {
		t.Fatalf("fault defaults: %+v", f)
	}
}

func TestBundledScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(ScenarioDir(), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"audio-40.json", "bench-20m.json", "course-5.json", "course-archive.json", "demo.json", "edge-cases.json", "farm-course.json", "faults.json", "gaps-overlaps.json",
		"lecture-3h-class.json", "lecture-3h.json", "lecture-slides.json", "screenshare.json", "seminar-6.json"}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("bundled scenarios %v, want %v", names, want)
	}
	counts := map[string]func(sc *Scenario) bool{
		"audio-40.json": func(sc *Scenario) bool {
			n := 0
			for _, s := range sc.Webinars[0].Streams {
				if s.Kind == KindAudio {
					n++
				}
			}
			return n == 40
		},
		"course-5.json": func(sc *Scenario) bool { return len(sc.Webinars) == 5 },
		"farm-course.json": func(sc *Scenario) bool {
			w := sc.Webinars
			return len(w) == 3 && len(w[2].Faults) == 1 && w[2].Faults[0].Kind == FaultSlow
		},
		"course-archive.json": func(sc *Scenario) bool {
			w := sc.Webinars
			return len(w) == 5 && w[1].Private && len(w[2].Faults) == 1 && w[3].Name == w[4].Name
		},
		"seminar-6.json": func(sc *Scenario) bool {
			return len(sc.Webinars[0].Streams) == 6
		},
		"lecture-3h.json": func(sc *Scenario) bool {
			w := sc.Webinars[0]
			return w.Duration == 10800 && w.Streams[0].chunkCount() == 6 && w.Streams[0].ChunkSeconds == 1800
		},
		"lecture-3h-class.json": func(sc *Scenario) bool {
			w := sc.Webinars[0]
			audio := 0
			for _, s := range w.Streams {
				if s.Kind == KindAudio {
					audio++
				}
			}
			return w.Duration == 10800 && audio >= 30 && len(w.Slides) >= 20
		},
		"bench-20m.json": func(sc *Scenario) bool {
			w := sc.Webinars[0]
			kinds := map[string]int{}
			for _, s := range w.Streams {
				kinds[s.Kind]++
				if s.Kind != KindAudio && s.Texture != TextureMoving {
					return false
				}
			}
			return w.Duration == 1200 && kinds[KindWebcam] == 3 && kinds[KindScreenshare] == 1 && kinds[KindAudio] == 10 && len(w.Slides) > 0
		},
		"demo.json": func(sc *Scenario) bool {
			d := sc.Webinars[0].Duration
			return d >= 60 && d <= 90 && len(sc.Webinars[0].Slides) > 0
		},
		"faults.json": func(sc *Scenario) bool {
			kinds := map[string]bool{}
			private := false
			for _, w := range sc.Webinars {
				for _, f := range w.Faults {
					kinds[f.Kind] = true
				}
				private = private || w.Private
			}
			for _, k := range []string{FaultCorruptOnce, FaultHTTP500Once, FaultHTTP429Once, FaultResetOnce, FaultSlow, FaultMissing, FaultAudioOnlyDirect} {
				if !kinds[k] {
					return false
				}
			}
			return private
		},
	}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if check, ok := counts[filepath.Base(f)]; ok && !check(sc) {
			t.Errorf("%s does not hold what its name says", filepath.Base(f))
		}
	}
}

func TestScenarioErrors(t *testing.T) {
	const ok = `"name": "x", "duration": 10, "event_session_id": 1, "participants": [{"id": 1}]`
	cases := []struct{ name, doc, want string }{
		{"not JSON", `[`, "not a JSON object"},
		{"unknown field", `{` + ok + `, "colour": "#ffffff"}`, `unknown field "colour"`},
		{"no webinars", `{"webinars": []}`, "no webinars"},
		{"no name", `{"duration": 1, "event_session_id": 1}`, "name is empty"},
		{"no duration", `{"name": "x", "event_session_id": 1}`, "duration must be positive"},
		{"no session", `{"name": "x", "duration": 1}`, "event_session_id"},
		{"org junk", `{` + ok + `, "org": "a/b"}`, "org"},
		{"bad token", `{` + ok + `, "access_token": "xyz"}`, "access_token"},
		{"bad date", `{` + ok + `, "date": "24.03.2026"}`, "date"},
		{"duplicate participant", `{"name": "x", "duration": 10, "event_session_id": 1, "participants": [{"id": 1}, {"id": "1"}]}`, "appears twice"},
		{"unknown participant", `{` + ok + `, "streams": [{"kind": "webcam", "participant": 2}]}`, `participant "2" is not in participants`},
		{"bad kind", `{` + ok + `, "streams": [{"kind": "camera", "participant": 1}]}`, `kind "camera"`},
		{"odd size", `{` + ok + `, "streams": [{"kind": "webcam", "participant": 1, "width": 641}]}`, "must be even"},
		{"bad texture", `{` + ok + `, "streams": [{"kind": "webcam", "participant": 1, "texture": "plaid"}]}`, `texture "plaid" is not`},
		{"bad webinar texture", `{` + ok + `, "texture": "plaid", "streams": [{"kind": "screenshare", "participant": 1}]}`, `texture "plaid" is not`},
		{"audio texture", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1, "texture": "moving"}]}`, "drop width, height, color and texture"},
		{"bad color", `{` + ok + `, "streams": [{"kind": "webcam", "participant": 1, "color": "red"}]}`, "is not #rrggbb"},
		{"screenshare tone", `{` + ok + `, "streams": [{"kind": "screenshare", "participant": 1, "tone_hz": 440}]}`, "no audio"},
		{"audio with color", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1, "color": "#ffffff"}]}`, "no video"},
		{"tone too high", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1, "tone_hz": 30000}]}`, "half the sample rate"},
		{"starts after the end", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1, "start": 10}]}`, "not before the end"},
		{"tiny chunks", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1, "chunk_seconds": 0.5}]}`, "chunk_seconds"},
		{"slides out of order", `{` + ok + `, "slides": [{"at": 5}, {"at": 2}]}`, "time order"},
		{"slide after the end", `{` + ok + `, "slides": [{"at": 50}]}`, "outside"},
		{"unknown fault", `{` + ok + `, "faults": [{"kind": "explode"}]}`, `unknown fault kind "explode"`},
		{"corrupt without stream", `{` + ok + `, "faults": [{"kind": "corrupt_once"}]}`, "needs a stream"},
		{"fault on missing chunk", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1}], "faults": [{"kind": "missing", "stream": 0, "chunk": 1}]}`, "no chunk 1"},
		{"audio_only_direct on audio", `{` + ok + `, "streams": [{"kind": "audio", "participant": 1}], "faults": [{"kind": "audio_only_direct", "stream": 0}]}`, "needs a webcam"},
		{"fault on the end slide", `{` + ok + `, "slides": [{"at": 1, "end": true}], "faults": [{"kind": "missing", "slide": 0}]}`, "ends the presentation"},
		{"overlapping cuts", `{` + ok + `, "cuts": [{"start": 1, "end": 5}, {"start": 4, "end": 6}]}`, "overlaps"},
		{"same recording twice", `{"webinars": [{` + ok + `}, {` + ok + `}]}`, "same event_session_id"},
		{"bad cookie", `{` + ok + `, "private": true, "session_cookie": "a b"}`, "session_cookie"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ParseScenario = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := LoadScenario(filepath.Join(t.TempDir(), "nope.json")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseColor(t *testing.T) {
	c, err := ParseColor("#D02010")
	if err != nil || c != (RGB{0xd0, 0x20, 0x10}) || c.String() != "#d02010" {
		t.Fatalf("ParseColor = %v %v", c, err)
	}
	if _, err := ParseColor("d02010"); err == nil {
		t.Fatal("a color without # parsed")
	}
	if d := MustColor("#000000").Distance(MustColor("#0a0314")); d != 20 {
		t.Fatalf("Distance = %d", d)
	}
}
