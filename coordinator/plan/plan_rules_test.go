package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// The goldens pin whole plans; these tests state the rules they show, one
// fact at a time, so a golden that drifts from a rule fails here with a name.

func planFixture(t *testing.T, name string) *proto.Plan {
	t.Helper()
	flow, opts := loadFixture(t, name)
	p, err := Plan(flow, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// windowAt returns the window showing at time at.
func windowAt(t *testing.T, p *proto.Plan, at float64) proto.PlanWindow {
	t.Helper()
	for _, u := range p.Units {
		for _, w := range u.Windows {
			if w.Start <= at && at < w.End {
				return w
			}
		}
	}
	t.Fatalf("no window at %g", at)
	return proto.PlanWindow{}
}

func sessionOf(t *testing.T, p *proto.Plan, id string) proto.PlanSession {
	t.Helper()
	for _, s := range p.Sessions {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no session %q in %v", id, p.Sessions)
	return proto.PlanSession{}
}

func hasSession(p *proto.Plan, id string) bool {
	return slices.ContainsFunc(p.Sessions, func(s proto.PlanSession) bool { return s.ID == id })
}

// layoutIs checks the window at time at: its layout, main, pip, column (or
// grid) and audio. An empty want field is not checked; "-" means empty.
type layoutIs struct {
	at                float64
	layout, main, pip string
	shown, audio      string // comma-separated column/grid ids, audio ids
	slide             string // slide id
}

func checkLayouts(t *testing.T, p *proto.Plan, cases []layoutIs) {
	t.Helper()
	for _, c := range cases {
		w := windowAt(t, p, c.at)
		shown := strings.Join(append(append([]string{}, w.Column...), w.Grid...), ",")
		eq := func(what, want, got string) {
			t.Helper()
			if want == "" {
				return
			}
			if want == "-" {
				want = ""
			}
			if want != got {
				t.Errorf("at %g: %s = %q, want %q (window %+v)", c.at, what, got, want, w)
			}
		}
		eq("layout", c.layout, w.Layout)
		eq("main", c.main, w.Main)
		eq("pip", c.pip, w.Pip)
		eq("shown", c.shown, shown)
		eq("audio", c.audio, strings.Join(w.Audio, ","))
		eq("slide", c.slide, w.SlideID)
	}
}

func TestSpecExample(t *testing.T) {
	p := planFixture(t, "spec-example")
	checkLayouts(t, p, []layoutIs{
		{at: 0.2, layout: "gap", audio: "-"},
		{at: 10, layout: "single", main: "a1b2c3", audio: "a1b2c3"},
		{at: 100, layout: "slides", shown: "a1b2c3", slide: "slide_1"},
		{at: 950, layout: "presenter", main: "d4e5f6", pip: "a1b2c3", audio: "a1b2c3,d4e5f6"}, // g7h8i9 is audio-only: not in window audio
		{at: 2400, layout: "slides", shown: "a1b2c3"},
		{at: 5399.5, layout: "slides", shown: "-", slide: "slide_1"}, // the slide outlives the webcam
	})
	if len(p.Units) != 3 || p.Units[1].Start != 1800 || p.Units[2].End != 5400 {
		t.Errorf("units %+v", p.Units)
	}
	if !slices.Equal(p.AudioTracks, []proto.AudioTrack{{Session: "g7h8i9", Start: 900, Duration: 120}}) {
		t.Errorf("audio tracks %+v", p.AudioTracks)
	}
	if s := sessionOf(t, p, "a1b2c3"); !s.Admin || s.Start != 0.5 || s.End != 5399 || s.Kind != proto.SourceWebcam {
		t.Errorf("a1b2c3 %+v", s)
	}
	if p.Width != 1280 || p.Height != 720 || p.GeometryKnown {
		t.Errorf("geometry %dx%d known %v: slides make it at least 1280x720; nothing is probed", p.Width, p.Height, p.GeometryKnown)
	}
	// Unit 1 reads a1b2c3 from 1799.5 s into its file.
	if in := p.Units[1].Inputs[0]; in.Session != "a1b2c3" || in.Offset != 1799.5 || in.At != 1800 || in.Duration != 1800 {
		t.Errorf("unit 1 input %+v", in)
	}
}

func TestLectureWithSlides(t *testing.T) {
	p := planFixture(t, "lecture-slides")
	checkLayouts(t, p, []layoutIs{
		{at: 1, layout: "slides", shown: "-", slide: "slide_1"}, // a slide before any video: empty column
		{at: 3, layout: "slides", shown: "s0"},
		{at: 6, layout: "slides", shown: "lect,s0"}, // admins first, though s0 started earlier
		{at: 450, layout: "slides", slide: "slide_2"},
		{at: 650, layout: "presenter", main: "lect", pip: "s0"},                        // presentation ended
		{at: 930, layout: "slides", shown: "lect,s0,s2,s3", audio: "s0,lect,s2,s3,s4"}, // at most 4 in the column; s4 heard
		{at: 1150, layout: "single", main: "lect"},                                     // presentation.delete
		{at: 1197, layout: "gap"},
	})
	if ids := []string{p.Slides[1].ID, p.Slides[3].ID}; ids[0] != ids[1] || p.Slides[1].URL != p.Slides[3].URL {
		t.Errorf("slide 2 shown twice has ids %v", ids)
	}
	if n := len(p.Slides); n != 5 || p.Slides[4].End != 1100 {
		t.Errorf("slides %+v (the duplicate update at 950 s is not a new slide)", p.Slides)
	}
}

func TestScreenshareWithWebcams(t *testing.T) {
	p := planFixture(t, "screenshare-webcam")
	checkLayouts(t, p, []layoutIs{
		{at: 100, layout: "presenter", main: "acam", pip: "bcam"},
		{at: 300, layout: "presenter", main: "scrX", pip: "acam", audio: "bcam,acam"}, // admin pip; scrX has no audio stream; the slide is hidden
		{at: 450, layout: "presenter", main: "scrX", pip: "acam", audio: "bcam,acam,scrY"},
		{at: 550, layout: "presenter", main: "scrY", pip: "acam"},
		{at: 650, layout: "slides", shown: "acam,bcam", slide: "slide_1"},
		{at: 760, layout: "presenter", main: "acam", pip: "bcam"},
		{at: 850, layout: "single", main: "acam"},
	})
	if p.Width != 1280 || p.Height != 720 || !p.GeometryKnown {
		t.Errorf("geometry %dx%d known %v", p.Width, p.Height, p.GeometryKnown)
	}
	if w := windowAt(t, p, 200); w.Start != 200 || w.End != 400 {
		t.Errorf("a slide change under a screenshare split the window: %+v", w)
	}
}

func TestSeminarGrid(t *testing.T) {
	p := planFixture(t, "seminar-6-webcams")
	checkLayouts(t, p, []layoutIs{
		{at: 5, layout: "single", main: "w1"},
		{at: 15, layout: "grid", shown: "w1,w2"},
		{at: 45, layout: "grid", shown: "w1,w2,w3,w4,w5"},
		{at: 100, layout: "grid", shown: "w1,w2,w3,w4,w5,w6"},
		{at: 400, layout: "grid", shown: "w1,w2,w4,w5,w6"},
	})
}

func TestAudioOnly(t *testing.T) {
	p := planFixture(t, "audio-only-40")
	if len(p.AudioTracks) != 41 {
		t.Fatalf("%d audio tracks, want 41", len(p.AudioTracks))
	}
	for _, u := range p.Units {
		if len(u.Windows) != 1 || u.Windows[0].Layout != proto.LayoutGap || len(u.Inputs) != 0 {
			t.Errorf("unit %d: %+v (audio-only sessions never reach the units)", u.Index, u)
		}
	}
	if p.Width != 640 || p.Height != 360 || !p.GeometryKnown {
		t.Errorf("geometry %dx%d known %v", p.Width, p.Height, p.GeometryKnown)
	}
}

func TestGapsAndOverlaps(t *testing.T) {
	p := planFixture(t, "gaps-overlaps")
	checkLayouts(t, p, []layoutIs{
		{at: 60, layout: "gap"},
		{at: 100.02, layout: "single", main: "B"}, // a 0.04 s feed is absorbed
		{at: 145, layout: "grid", shown: "B,C"},
		{at: 200.02, layout: "single", main: "C"}, // a 0.05 s gap is absorbed into the window before
		{at: 259.98, layout: "single", main: "D"}, // a 0.03 s overlap too
	})
	if w := windowAt(t, p, 270); w.Start != 260 || w.Main != "E" {
		t.Errorf("E's window %+v", w)
	}
	if in := p.Units[0].Inputs; in[len(in)-1].Session != "E" || in[len(in)-1].Offset != 0.03 {
		t.Errorf("E starts 0.03 s into its file: %+v", in)
	}
}

func TestThreeHourLecture(t *testing.T) {
	p := planFixture(t, "lecture-3h")
	if len(p.Units) != 6 {
		t.Fatalf("%d units, want 6 of 30 minutes", len(p.Units))
	}
	for i, u := range p.Units {
		if u.Start != float64(i)*1800 || u.End != float64(i+1)*1800 {
			t.Errorf("unit %d spans %g..%g", i, u.Start, u.End)
		}
	}
	// The screenshare spans units 2 exactly; the webcam chunk crossing 1800 s
	// is read from 306.9 s into its file in unit 1.
	if w := p.Units[2].Windows; w[0].Main != "screen" || w[len(w)-1].Main != "screen" {
		t.Errorf("unit 2 windows %+v", w)
	}
	if in := p.Units[1].Inputs[0]; in.Session != "cam04" || in.Offset != 306.9 || in.At != 1800 {
		t.Errorf("unit 1 first input %+v", in)
	}
}

// TestTimelineEdgeCases: update order, negative times, media shorter than
// the flow, odd ids, duplicate and fallback urls, each from its fixture.
func TestTimelineEdgeCases(t *testing.T) {
	t.Run("update before add", func(t *testing.T) {
		p := planFixture(t, "edge-update-before-add")
		if s := sessionOf(t, p, "m1"); s.Start != 10 || s.End != 40 {
			t.Errorf("m1 %g..%g: its update came before its add and still applies", s.Start, s.End)
		}
		if s := sessionOf(t, p, "m2"); s.End != 75 {
			t.Errorf("m2 ends at %g: the latest update (by time) wins", s.End)
		}
		if s := sessionOf(t, p, "m3"); s.End != 100 {
			t.Errorf("m3 ends at %g: a zero duration runs to the end", s.End)
		}
	})
	t.Run("negative relativeTime", func(t *testing.T) {
		p := planFixture(t, "edge-negative-time")
		if s := sessionOf(t, p, "m1"); s.Start != 0 || s.Offset != 12.5 || s.End != 27.4 {
			t.Errorf("m1 %+v: trimmed at 0, 12.5 s into the file, ends with its 39.9 s media", s)
		}
		if hasSession(p, "gone") || hasSession(p, "late") {
			t.Errorf("sessions outside the recording are left out: %+v", p.Sessions)
		}
		if a := p.AudioTracks; len(a) != 1 || a[0].Offset != 5 || a[0].Start != 0 || a[0].Duration != 20 {
			t.Errorf("audio tracks %+v", a)
		}
		if p.Slides[0].Start != 0 {
			t.Errorf("a slide at -5 s shows from 0: %+v", p.Slides)
		}
	})
	t.Run("media shorter than the flow says", func(t *testing.T) {
		p := planFixture(t, "edge-media-shorter")
		if s := sessionOf(t, p, "m1"); s.End != 60 {
			t.Errorf("m1 ends at %g, its media at 60", s.End)
		}
		if s := sessionOf(t, p, "m2"); s.End != 100 {
			t.Errorf("m2 (no duration) ends at %g, its media at 100", s.End)
		}
		if s := sessionOf(t, p, "m3"); s.End != 70 {
			t.Errorf("m3 ends at %g: the API duration, shorter than the media", s.End)
		}
		if hasSession(p, "m4") {
			t.Error("m4's media ends before the recording starts: seeking past its end must not be planned")
		}
		checkLayouts(t, p, []layoutIs{{at: 110, layout: "gap"}})
	})
	t.Run("zero and empty ids", func(t *testing.T) {
		p := planFixture(t, "edge-zero-ids")
		if len(p.Sessions) != 1 || p.Sessions[0].ID != "ok" || p.Sessions[0].End != 30 || p.Sessions[0].Admin {
			t.Errorf("sessions %+v", p.Sessions)
		}
	})
	t.Run("duplicate urls", func(t *testing.T) {
		p := planFixture(t, "edge-duplicate-urls")
		if hasSession(p, "m2") || len(p.Sessions) != 2 || sessionOf(t, p, "m1").URL != "https://x.example/same.mp4" {
			t.Errorf("sessions %+v", p.Sessions)
		}
	})
	t.Run("fallback urls", func(t *testing.T) {
		p := planFixture(t, "edge-fallback-url")
		fb := sessionOf(t, p, "fallback_1")
		if fb.Start != 10 || fb.End != 100 || !fb.Admin || fb.URL != "https://x.example/fb1.mp4" {
			t.Errorf("fallback_1 %+v", fb)
		}
		if len(p.Sessions) != 4 || sessionOf(t, p, "fallback_3").Kind != proto.SourceAudio {
			t.Errorf("sessions %+v", p.Sessions)
		}
	})
}

// TestLayoutEdgeCases: roles, conference flags, absent media, probed kinds,
// short pieces, unit boundaries and slides, each from its fixture.
func TestLayoutEdgeCases(t *testing.T) {
	t.Run("LECTURER is an admin", func(t *testing.T) {
		p := planFixture(t, "edge-lecturer-admin")
		checkLayouts(t, p, []layoutIs{
			{at: 20, layout: "presenter", main: "lect7", pip: "user9"},
			{at: 55, layout: "presenter", main: "adm8", pip: "user9"}, // admin from the eventsession.start snapshot
			{at: 70, layout: "presenter", main: "adm8", pip: "user9"}, // two admins: the earlier is main, the earliest other is pip
		})
	})
	t.Run("conference flags as of the start", func(t *testing.T) {
		p := planFixture(t, "edge-conference-flags")
		checkLayouts(t, p, []layoutIs{
			{at: 50, layout: "single", main: "m1", audio: "m1"}, // muted at 59 s, heard all along
			{at: 65, layout: "single", main: "m2", audio: "-"},  // started muted
			{at: 42, layout: "grid", audio: "m1"},               // m6: conference known only from an update
		})
		if s := sessionOf(t, p, "m3"); s.Kind != proto.SourceAudio || !s.HasAudio {
			t.Errorf("m3 %+v: camera off at its start → audio only", s)
		}
		if s := sessionOf(t, p, "m4"); s.Kind != proto.SourceAudio {
			t.Errorf("m4 %+v: its conference.add came 0.2 s after it; its flags still apply", s)
		}
		if s := sessionOf(t, p, "m5"); s.Kind != proto.SourceWebcam || !s.HasAudio {
			t.Errorf("m5 %+v: an unknown conference defaults to audio and video", s)
		}
	})
	t.Run("absent media and slides", func(t *testing.T) {
		p := planFixture(t, "edge-absent")
		if s := sessionOf(t, p, "m2"); !s.Absent {
			t.Errorf("m2 %+v", s)
		}
		checkLayouts(t, p, []layoutIs{
			{at: 30, layout: "slides", shown: "m1", slide: "slide_1"},
			{at: 50, layout: "slides", shown: "m1", slide: "slide_1"}, // slide 2 is absent: slide 1 stays
			{at: 70, layout: "slides", slide: "slide_2"},
		})
		if len(p.Warnings) != 2 {
			t.Errorf("warnings %q", p.Warnings)
		}
	})
	t.Run("probed kinds and geometry", func(t *testing.T) {
		p := planFixture(t, "edge-probed-kinds")
		if p.Width != 900 || p.Height != 720 || !p.GeometryKnown {
			t.Errorf("geometry %dx%d known %v: 1280x1024 is 900x720", p.Width, p.Height, p.GeometryKnown)
		}
		if s := sessionOf(t, p, "novideo"); s.Kind != proto.SourceAudio {
			t.Errorf("novideo %+v", s)
		}
		if s := sessionOf(t, p, "broken"); !s.Absent {
			t.Errorf("broken %+v", s)
		}
		checkLayouts(t, p, []layoutIs{{at: 25, layout: "presenter", main: "cam", pip: "mute", audio: "cam"}})
	})
	t.Run("short pieces", func(t *testing.T) {
		p := planFixture(t, "edge-short-pieces")
		var got []string
		for _, w := range p.Units[0].Windows {
			got = append(got, w.Main)
		}
		if !slices.Equal(got, []string{"A", "B", "C", "E"}) || p.Units[0].Windows[0].Start != 0 {
			t.Errorf("windows %v", p.Units[0].Windows)
		}
	})
	t.Run("unit boundaries", func(t *testing.T) {
		p := planFixture(t, "edge-unit-boundaries")
		if len(p.Units) != 4 || p.Units[3].End != 185 {
			t.Fatalf("units %+v", p.Units)
		}
		if w := p.Units[0].Windows; w[len(w)-1].Layout != proto.LayoutPresenter || w[len(w)-1].End != 60 {
			t.Errorf("unit 0 ends with %+v: the 0.03 s of slide before 60 s is absorbed", w[len(w)-1])
		}
		if w := p.Units[2].Windows; len(w) != 1 || w[0].Column[0] != "C" {
			t.Errorf("unit 2 windows %+v", w)
		}
		if in := p.Units[3].Inputs; len(in) != 1 || in[0].Session != "D" {
			t.Errorf("unit 3 inputs %+v: C's last 0.04 s is absorbed", in)
		}
	})
	t.Run("slides", func(t *testing.T) {
		p := planFixture(t, "edge-slides")
		checkLayouts(t, p, []layoutIs{
			{at: 5, layout: "slides", shown: "-", slide: "slide_1"},
			{at: 40, layout: "presenter", main: "scr", pip: "cam"},
			{at: 55, layout: "slides", slide: "slide_2"}, // the change under the screenshare shows after it
			{at: 65, layout: "single", main: "cam"},      // isActive false ends the presentation
			{at: 92, layout: "slides", shown: "-"},
		})
		if p.Slides[0].URL != "https://events-storage.webinar.ru/api-storage/files/slides/2026/03/24/p2.jpg" {
			t.Errorf("two changes at 0 s: the later shows; got %+v", p.Slides[0])
		}
	})
}

func TestPlanErrors(t *testing.T) {
	flow := func(duration float64, events ...mts.Event) *mts.Flow {
		return &mts.Flow{Name: "x", Duration: duration, Events: events}
	}
	add := mts.Event{Module: "mediasession.add", Data: []byte(`{"id":"m1","url":"https://x/1.mp4"}`)}
	cases := []struct {
		name string
		flow *mts.Flow
		opts Options
		want error
		text string
	}{
		{"nil flow", nil, Options{}, mts.ErrBadFlow, "no flow"},
		{"no duration", flow(0, add), Options{}, ErrNoDuration, "positive duration"},
		{"negative duration", flow(-5, add), Options{}, ErrNoDuration, ""},
		{"too long", flow(MaxPlanDuration+1, add), Options{}, mts.ErrBadFlow, "7 day"},
		{"no media", flow(60, mts.Event{Module: "message.add", Data: []byte(`{"text":"hi"}`)}), Options{}, ErrNoMedia, "nothing to render"},
		{"all absent", flow(60, add), Options{Absent: map[string]string{"m1": "404"}}, ErrNoMedia, "none of the 1"},
		{"all after the end", flow(60, mts.Event{Module: "mediasession.add", RelativeTime: 61, Data: add.Data}), Options{}, ErrNoMedia, "after the recording ends"},
		{"unit too short", flow(60, add), Options{UnitSeconds: 0.5}, ErrBadOptions, "at least 1"},
		{"too many units", flow(MaxPlanDuration, add), Options{UnitSeconds: 1}, ErrBadOptions, "units"},
		{"max height", flow(60, add), Options{MaxHeight: 100}, ErrBadOptions, "360..2160"},
		{"fps", flow(60, add), Options{FPS: 1000}, ErrBadOptions, "fps"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Plan(c.flow, c.opts)
			if !errors.Is(err, c.want) || p != nil {
				t.Fatalf("Plan = %v, %v; want an error wrapping %v", p, err, c.want)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
		})
	}
}

func TestWarningsAreCapped(t *testing.T) {
	var events []mts.Event
	events = append(events, mts.Event{Module: "mediasession.add", Data: []byte(`{"id":"m1","url":"https://x/1.mp4"}`)})
	for range 150 {
		events = append(events, mts.Event{Module: "mediasession.add", Data: []byte(`{"id":0,"url":"https://x/0.mp4"}`)})
	}
	p, err := Plan(&mts.Flow{Name: "x", Duration: 10, Events: events}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != maxWarnings+1 || p.Warnings[maxWarnings] != "50 more warnings not shown" {
		t.Errorf("%d warnings, last %q", len(p.Warnings), p.Warnings[len(p.Warnings)-1])
	}
}
