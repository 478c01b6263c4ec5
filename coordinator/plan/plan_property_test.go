package plan

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

const tol = 1e-6

var randomFlows = flag.Int("flows", 500, "how many random flows TestPlanProperties plans (more: -flows 20000)")

// checkInvariants checks everything a consumer of a plan relies on, for any
// flow: tiling, unit cuts, references, layout rules, inputs inside their
// sources, audio heard exactly once.
func checkInvariants(t testing.TB, flow *mts.Flow, opts Options, p *proto.Plan) {
	t.Helper()
	o, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: "+format, append([]any{flow.Name}, args...)...)
	}
	if err := p.Validate(); err != nil {
		fail("Validate: %v", err)
	}
	if p.Duration != round6(flow.Duration) {
		fail("plan duration %g, flow %g: the API duration is the output length", p.Duration, flow.Duration)
	}
	// Geometry.
	if p.Width%2 != 0 || p.Height%2 != 0 || p.Width < minWidth || p.Height < minHeight || p.Height > o.MaxHeight {
		fail("geometry %dx%d", p.Width, p.Height)
	}
	if len(p.Slides) > 0 && o.MaxHeight >= 720 && (p.Width < 1280 || p.Height < 720) {
		fail("geometry %dx%d with slides", p.Width, p.Height)
	}

	sessions := checkSessions(p, &o, fail)
	slideByID := checkSlides(p, sessions, fail)

	heardInWindows := map[string]bool{}
	at := 0.0
	for ui, u := range p.Units {
		at = checkUnit(t, p, &o, ui, u, at, sessions, slideByID, heardInWindows, fail)
	}
	if math.Abs(at-p.Duration) > tol {
		fail("windows end at %g, plan is %g", at, p.Duration)
	}
	checkAudioTracks(p, sessions, heardInWindows, fail)
}

// checkSessions checks the plan's sessions: unique, inside the recording, in
// start order, kinds matching streams, never past the end of a probed file.
func checkSessions(p *proto.Plan, o *Options, fail func(string, ...any)) map[string]proto.PlanSession {
	sessions := map[string]proto.PlanSession{}
	for i, s := range p.Sessions {
		if _, dup := sessions[s.ID]; dup {
			fail("session %s twice", s.ID)
		}
		sessions[s.ID] = s
		if s.Start < 0 || s.End > p.Duration+tol || s.End <= s.Start || s.Offset < 0 {
			fail("session %s spans %g..%g offset %g", s.ID, s.Start, s.End, s.Offset)
		}
		if i > 0 && s.Start < p.Sessions[i-1].Start {
			fail("sessions not in start order at %s", s.ID)
		}
		if (s.Kind == proto.SourceAudio) == s.HasVideo {
			fail("session %s kind %s has_video %v", s.ID, s.Kind, s.HasVideo)
		}
		if pr, ok := o.Probes[s.ID]; ok && !s.Absent && pr.Validate() == nil {
			if s.Offset+(s.End-s.Start) > pr.Duration+tol {
				fail("session %s plays %g..%g of a %g s file", s.ID, s.Offset, s.Offset+s.End-s.Start, pr.Duration)
			}
		}
	}
	return sessions
}

// checkSlides checks the plan's slides: inside the recording, in order, one
// url per id, no id shared with a session.
func checkSlides(p *proto.Plan, sessions map[string]proto.PlanSession, fail func(string, ...any)) map[string]proto.PlanSlide {
	slideByID := map[string]proto.PlanSlide{}
	for i, sl := range p.Slides {
		if sl.Start < 0 || sl.End > p.Duration+tol || sl.End <= sl.Start || (i > 0 && sl.Start < p.Slides[i-1].End-tol) {
			fail("slide %d spans %g..%g", i, sl.Start, sl.End)
		}
		if old, ok := slideByID[sl.ID]; ok && old.URL != sl.URL {
			fail("slide id %s names two urls", sl.ID)
		}
		if _, clash := sessions[sl.ID]; clash {
			fail("slide id %s is also a session id", sl.ID)
		}
		slideByID[sl.ID] = sl
	}
	return slideByID
}

// checkUnit checks unit ui: its cut, its windows tiling on from at (each by
// checkWindow), its slides and its inputs against what the windows use. It
// returns where its windows end and marks what they hear in heardInWindows.
func checkUnit(t testing.TB, p *proto.Plan, o *Options, ui int, u proto.PlanUnit, at float64, sessions map[string]proto.PlanSession,
	slideByID map[string]proto.PlanSlide, heardInWindows map[string]bool, fail func(string, ...any)) float64 {
	t.Helper()
	wantStart := float64(ui) * p.UnitSeconds
	if math.Abs(u.Start-wantStart) > tol {
		fail("unit %d starts at %g, want %g", ui, u.Start, wantStart)
	}
	if ui < len(p.Units)-1 && math.Abs(u.End-u.Start-p.UnitSeconds) > tol {
		fail("unit %d is %g s long, want %g", ui, u.End-u.Start, p.UnitSeconds)
	}
	if ui == len(p.Units)-1 && (u.End-u.Start > p.UnitSeconds+tol || math.Abs(u.End-p.Duration) > tol) {
		fail("last unit %g..%g", u.Start, u.End)
	}
	used := map[string][2]float64{}
	var slidesUsed []string
	for wi, w := range u.Windows {
		if math.Abs(w.Start-at) > tol || w.End <= w.Start {
			fail("unit %d window %d spans %g..%g after %g", ui, wi, w.Start, w.End, at)
		}
		at = w.End
		if w.End-w.Start < MinWindow-tol && len(u.Windows) > 1 {
			fail("unit %d window %d is %g s long", ui, wi, w.End-w.Start)
		}
		checkWindow(t, p, w, sessions, slideByID, fail)
		for _, id := range w.Audio {
			heardInWindows[id] = true
		}
		for _, id := range usedIDs(w) {
			s := sessions[id]
			a, e := math.Max(w.Start, s.Start), math.Min(w.End, s.End)
			if e <= a {
				continue
			}
			if r, ok := used[id]; ok {
				used[id] = [2]float64{math.Min(r[0], a), math.Max(r[1], e)}
			} else {
				used[id] = [2]float64{a, e}
			}
		}
		if w.SlideID != "" && !slices.Contains(slidesUsed, w.SlideID) {
			slidesUsed = append(slidesUsed, w.SlideID)
		}
	}
	if !slices.Equal(slidesUsed, u.Slides) {
		fail("unit %d slides %v, windows show %v", ui, u.Slides, slidesUsed)
	}
	if len(u.Inputs) != len(used) {
		fail("unit %d has %d inputs, its windows use %d sessions", ui, len(u.Inputs), len(used))
	}
	for _, in := range u.Inputs {
		r, ok := used[in.Session]
		if !ok {
			fail("unit %d input %s is not used", ui, in.Session)
		}
		s := sessions[in.Session]
		if math.Abs(in.At-r[0]) > tol || math.Abs(in.At+in.Duration-r[1]) > tol {
			fail("unit %d input %s covers %g+%g, windows use %v", ui, in.Session, in.At, in.Duration, r)
		}
		if in.Offset < 0 || in.Duration <= 0 || in.At < u.Start-tol || in.At+in.Duration > u.End+tol ||
			in.At < s.Start-tol || in.At+in.Duration > s.End+tol {
			fail("unit %d input %+v outside session %g..%g", ui, in, s.Start, s.End)
		}
		if want := s.Offset + in.At - s.Start; math.Abs(in.Offset-want) > tol {
			fail("unit %d input %s offset %g, want %g", ui, in.Session, in.Offset, want)
		}
		if pr, ok := o.Probes[in.Session]; ok && pr.Validate() == nil && in.Offset+in.Duration > pr.Duration+tol {
			fail("unit %d input %s reads %g..%g of a %g s file", ui, in.Session, in.Offset, in.Offset+in.Duration, pr.Duration)
		}
	}
	return at
}

// checkAudioTracks checks that every usable audio-only session is one audio
// track, heard once (never in a window), with its session's span.
func checkAudioTracks(p *proto.Plan, sessions map[string]proto.PlanSession, heardInWindows map[string]bool, fail func(string, ...any)) {
	for _, a := range p.AudioTracks {
		s, ok := sessions[a.Session]
		if !ok || s.Absent || s.Kind != proto.SourceAudio || !s.HasAudio {
			fail("audio track %s is not a usable audio-only session", a.Session)
		}
		if heardInWindows[a.Session] {
			fail("audio-only %s is heard twice", a.Session)
		}
		if a.Start != s.Start || math.Abs(a.Duration-(s.End-s.Start)) > tol || a.Offset != s.Offset {
			fail("audio track %+v vs session %+v", a, s)
		}
	}
	for _, s := range p.Sessions {
		isTrack := slices.ContainsFunc(p.AudioTracks, func(a proto.AudioTrack) bool { return a.Session == s.ID })
		if !s.Absent && s.Kind == proto.SourceAudio && s.HasAudio && !isTrack {
			fail("audio-only %s is never heard", s.ID)
		}
	}
}

// checkWindow checks one window against the layout rules.
func checkWindow(t testing.TB, p *proto.Plan, w proto.PlanWindow, sessions map[string]proto.PlanSession,
	slides map[string]proto.PlanSlide, fail func(string, ...any)) {
	t.Helper()
	var screens, admins []string
	for i, id := range w.Sources {
		s, ok := sessions[id]
		if !ok || s.Absent || !s.HasVideo {
			fail("window %g: source %q is not a shown session", w.Start, id)
		}
		if math.Min(w.End, s.End)-math.Max(w.Start, s.Start) <= 0 {
			fail("window %g..%g: source %s plays %g..%g", w.Start, w.End, id, s.Start, s.End)
		}
		if i > 0 && sessions[w.Sources[i-1]].Start > s.Start {
			fail("window %g: sources not in start order", w.Start)
		}
		if s.Kind == proto.SourceScreenshare {
			screens = append(screens, id)
		} else if s.Admin {
			admins = append(admins, id)
		}
	}
	// Every shown session that plays through the whole window is in it.
	for _, s := range p.Sessions {
		if !s.Absent && s.HasVideo && s.Start <= w.Start+tol && s.End >= w.End-tol && !slices.Contains(w.Sources, s.ID) {
			fail("window %g..%g misses %s (%g..%g)", w.Start, w.End, s.ID, s.Start, s.End)
		}
	}
	var heard []string
	for _, id := range w.Sources {
		if sessions[id].HasAudio {
			heard = append(heard, id)
		}
	}
	if !slices.Equal(heard, w.Audio) {
		fail("window %g hears %v, want %v", w.Start, w.Audio, heard)
	}
	for _, id := range append(append([]string{w.Main, w.Pip}, w.Column...), w.Grid...) {
		if id != "" && !slices.Contains(w.Sources, id) {
			fail("window %g shows %s, not a source", w.Start, id)
		}
	}
	if (w.Slide == "") != (w.SlideID == "") || (w.Slide != "" && slides[w.SlideID].URL != w.Slide) {
		fail("window %g slide %q id %q", w.Start, w.Slide, w.SlideID)
	}
	if w.Slide != "" && w.Layout != proto.LayoutSlides {
		fail("window %g has a slide in layout %s", w.Start, w.Layout)
	}
	checkLayout(w, sessions, screens, admins, fail)
	for _, r := range w.Rects(p.Width, p.Height) {
		if r.X < 0 || r.Y < 0 || r.W <= 0 || r.H <= 0 || r.X+r.W > p.Width || r.Y+r.H > p.Height || r.X%2+r.Y%2+r.W%2+r.H%2 != 0 {
			fail("window %g rect %+v outside %dx%d", w.Start, r, p.Width, p.Height)
		}
	}
}

// checkLayout checks a window's layout against its screen shares and admins
// (presenter, slides, gap, single, grid).
func checkLayout(w proto.PlanWindow, sessions map[string]proto.PlanSession, screens, admins []string, fail func(string, ...any)) {
	switch w.Layout {
	case proto.LayoutPresenter:
		if len(screens) > 0 {
			if w.Main != screens[0] {
				fail("window %g presenter main %s, want the first screenshare %s", w.Start, w.Main, screens[0])
			}
			if w.Pip != "" && sessions[w.Pip].Kind != proto.SourceWebcam {
				fail("window %g pip %s is not a webcam", w.Start, w.Pip)
			}
			if len(admins) > 0 && w.Pip != admins[0] {
				fail("window %g pip %s, want the admin %s", w.Start, w.Pip, admins[0])
			}
		} else {
			if len(admins) == 0 || w.Main != admins[0] || len(w.Sources) < 2 {
				fail("window %g presenter without a screenshare: main %s admins %v", w.Start, w.Main, admins)
			}
			if w.Pip == w.Main || w.Pip == "" {
				fail("window %g presenter pip %q", w.Start, w.Pip)
			}
			for _, id := range w.Sources {
				if id != w.Main {
					if w.Pip != id {
						fail("window %g presenter pip %s, want the earliest other %s", w.Start, w.Pip, id)
					}
					break
				}
			}
		}
	case proto.LayoutSlides:
		if len(screens) > 0 || w.Slide == "" || len(w.Column) > proto.MaxColumn || len(w.Column) != min(len(w.Sources), proto.MaxColumn) {
			fail("window %g slides with screens %v column %v", w.Start, screens, w.Column)
		}
		for i := 1; i < len(w.Column); i++ {
			if !sessions[w.Column[i-1]].Admin && sessions[w.Column[i]].Admin {
				fail("window %g column %v: admins first", w.Start, w.Column)
			}
		}
	case proto.LayoutGap:
		if len(w.Sources) != 0 {
			fail("window %g gap with sources %v", w.Start, w.Sources)
		}
	case proto.LayoutSingle:
		if len(w.Sources) != 1 || w.Main != w.Sources[0] {
			fail("window %g single %s of %v", w.Start, w.Main, w.Sources)
		}
	case proto.LayoutGrid:
		if len(screens) > 0 || len(admins) > 0 || !slices.Equal(w.Grid, w.Sources) || len(w.Grid) < 2 {
			fail("window %g grid %v", w.Start, w.Grid)
		}
	default:
		fail("window %g layout %q", w.Start, w.Layout)
	}
}

func usedIDs(w proto.PlanWindow) []string { return used(w) }

// randomFlow makes a flow with random sessions, conferences, roles, slides
// and probes, in shuffled log order, with zero ids, duplicates, negative
// times and updates before their adds.
func randomFlow(r *rand.Rand) ([]byte, Options) {
	duration := []float64{1, 7.5, 59.9, 600, 1800, 3600.25, 4000}[r.IntN(7)]
	if r.IntN(3) == 0 {
		duration = math.Round(r.Float64()*5000*1000)/1000 + 0.05
	}
	t := func() float64 {
		switch r.IntN(6) {
		case 0:
			return -r.Float64() * 30
		case 1:
			return math.Round(r.Float64()*duration*10) / 10
		default:
			return math.Round(r.Float64()*(duration+10)*1000) / 1000
		}
	}
	var events []map[string]any
	evt := func(module string, at float64, data any) {
		events = append(events, map[string]any{"module": module, "relativeTime": at, "data": data})
	}
	nUsers := 1 + r.IntN(6)
	for u := 1; u <= nUsers; u++ {
		role := []string{"ADMIN", "LECTURER", "USER", "USER", "GUEST"}[r.IntN(5)]
		evt([]string{"userlist.add", "userlist.update"}[r.IntN(2)], 0, []any{map[string]any{"role": role, "user": map[string]any{"id": u}}})
		evt("conference.add", t(), map[string]any{"id": 100 + u, "hasAudio": r.IntN(5) > 0, "hasVideo": r.IntN(4) > 0, "user": map[string]any{"id": u}})
		if r.IntN(3) == 0 {
			evt("conference.update", t(), map[string]any{"id": 100 + u, "hasAudio": r.IntN(2) == 0})
		}
	}
	opts := Options{UnitSeconds: []float64{0, 10, 30, 60, 600, 1800}[r.IntN(6)],
		MaxHeight: []int{0, 360, 480, 720, 1080}[r.IntN(5)],
		Probes:    map[string]proto.MediaInfo{}, Absent: map[string]string{}, AbsentSlides: map[string]string{}}
	nSessions := r.IntN(25)
	for i := range nSessions {
		id := any(fmt.Sprintf("m%d", i))
		switch r.IntN(12) {
		case 0:
			id = 0
		case 1:
			id = ""
		case 2:
			id = i // numeric id
		}
		url := fmt.Sprintf("https://x.example/%d.mp4", i)
		if r.IntN(15) == 0 {
			url = "https://x.example/0.mp4" // duplicate url
		}
		stream := map[string]any{}
		if r.IntN(4) == 0 {
			stream["screensharing"] = map[string]any{"id": 900 + i}
		}
		if r.IntN(5) > 0 {
			stream["conference"] = map[string]any{"id": 100 + 1 + r.IntN(nUsers+1)}
		}
		start := t()
		evt("mediasession.add", start, map[string]any{"id": id, "url": url, "stream": stream})
		dur := r.Float64() * duration
		if r.IntN(8) == 0 {
			dur = r.Float64() * 0.3
		}
		if r.IntN(4) > 0 {
			evt("mediasession.update", start+dur, map[string]any{"id": id, "duration": dur})
		}
		key := fmt.Sprint(id)
		switch r.IntN(6) {
		case 0, 1:
			hasVideo := r.IntN(4) > 0
			mi := proto.MediaInfo{Duration: math.Max(0.01, dur*(0.5+r.Float64())), Size: 1, HasVideo: hasVideo, HasAudio: r.IntN(4) > 0 || !hasVideo}
			if hasVideo {
				mi.Width, mi.Height = []int{192, 320, 640, 1280, 1920, 360, 1366}[r.IntN(7)], []int{108, 240, 360, 720, 1080, 640, 1024}[r.IntN(7)]
			}
			opts.Probes[key] = mi
		case 2:
			opts.Absent[key] = "404"
		}
	}
	if r.IntN(4) == 0 {
		evt("some.module", t(), map[string]any{"url": "https://x.example/fallback.mp4"})
	}
	for i := range r.IntN(12) {
		url := fmt.Sprintf("https://x.example/s%d.jpg", r.IntN(5))
		switch r.IntN(8) {
		case 0:
			evt("presentation.update", t(), map[string]any{"isActive": false})
		case 1:
			evt("presentation.delete", t(), nil)
		default:
			evt("presentation.update", t(), map[string]any{"fileReference": map[string]any{"slide": map[string]any{"url": url, "number": i}}})
		}
		if r.IntN(10) == 0 {
			opts.AbsentSlides[url] = "403"
		}
	}
	r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	data, _ := json.Marshal(map[string]any{"name": "random", "duration": duration, "eventLogs": events})
	return data, opts
}

// TestPlanProperties plans random flows and checks the invariants: windows
// tile [0, duration], units tile it at the unit length, every input offset
// is ≥ 0 and inside its source, every id a window names is an active
// source, audio-only sessions are heard exactly once. Plans are
// deterministic.
func TestPlanProperties(t *testing.T) {
	n := *randomFlows
	if testing.Short() {
		n = min(n, 100)
	}
	r := rand.New(rand.NewPCG(4, 2))
	planned := 0
	for i := range n {
		data, opts := randomFlow(r)
		flow, err := mts.DecodeFlow(data)
		if err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
		p, err := Plan(flow, opts)
		if err != nil {
			if !errors.Is(err, ErrNoMedia) {
				t.Fatalf("flow %d: %v\n%s", i, err, data)
			}
			continue
		}
		planned++
		func() {
			defer func() {
				if t.Failed() {
					t.Logf("flow %d: %s\noptions: %+v", i, data, opts)
				}
			}()
			checkInvariants(t, flow, opts, p)
		}()
		flow2, _ := mts.DecodeFlow(data)
		p2, err := Plan(flow2, opts)
		if err != nil || string(marshalPlan(t, p)) != string(marshalPlan(t, p2)) {
			t.Fatalf("flow %d: planning twice gave different plans (%v)", i, err)
		}
	}
	if planned < n/2 {
		t.Fatalf("only %d of %d random flows were plannable: the generator is off", planned, n)
	}
}
