package coordinator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testPlan is a 100 s webinar in two 50 s units: webcam a1 (stream s1)
// throughout, its second chunk a2 from 60 s, screenshare d4 on 30–60 s,
// slide p1 on 70–90 s.
func testPlan() *proto.Plan {
	win := func(s, e float64, layout, main, pip, slide string, col []string, srcs ...string) proto.PlanWindow {
		return proto.PlanWindow{Start: s, End: e, Layout: layout, Main: main, Pip: pip, Column: col,
			Sources: srcs, Audio: []string{srcs[0]}, Slide: slide}
	}
	return &proto.Plan{Type: proto.TypePlan, Title: "Лекция", Duration: 100, Width: 1280, Height: 720, FPS: 25, UnitSeconds: 50, GeometryKnown: true,
		Sessions: []proto.PlanSession{
			{ID: "d4", URL: "https://m/d4.mp4", Kind: proto.SourceScreenshare, Start: 30, End: 60, Stream: "s2", HasVideo: true},
			{ID: "a1", URL: "https://m/a1.mp4", Kind: proto.SourceWebcam, Start: 0, End: 60, Stream: "s1", HasVideo: true, HasAudio: true, Admin: true},
			{ID: "a2", URL: "https://m/a2.mp4", Kind: proto.SourceWebcam, Start: 60, End: 100, Stream: "s1", HasVideo: true, HasAudio: true, Admin: true},
			{ID: "g7", URL: "https://m/g7.mp4", Kind: proto.SourceAudio, Start: 10, End: 20, Stream: "s3", HasAudio: true},
		},
		Units: []proto.PlanUnit{
			{Index: 0, Start: 0, End: 50,
				Windows: []proto.PlanWindow{win(0, 30, "single", "a1", "", "", nil, "a1"), win(30, 50, "presenter", "d4", "a1", "", nil, "a1", "d4")},
				Inputs:  []proto.PlanInput{{Session: "a1", Offset: 0, At: 0, Duration: 50}, {Session: "d4", Offset: 0, At: 30, Duration: 20}}},
			{Index: 1, Start: 50, End: 100,
				Windows: []proto.PlanWindow{win(50, 60, "presenter", "d4", "a1", "", nil, "a1", "d4"), win(60, 70, "single", "a2", "", "", nil, "a2"),
					win(70, 90, "slides", "", "", "https://m/p1.jpg", []string{"a2"}, "a2"), win(90, 100, "single", "a2", "", "", nil, "a2")},
				Inputs: []proto.PlanInput{{Session: "a1", Offset: 50, At: 50, Duration: 10}, {Session: "d4", Offset: 20, At: 50, Duration: 10},
					{Session: "a2", Offset: 0, At: 60, Duration: 40}}},
		},
		AudioTracks: []proto.AudioTrack{{Session: "g7", Start: 10, Duration: 10}},
		Slides:      []proto.PlanSlide{{Start: 70, End: 90, URL: "https://m/p1.jpg", Number: 1}},
	}
}

func newJob() *proto.Job {
	return &proto.Job{Type: proto.TypeJob, ID: "j1", State: proto.StateQueued, Created: t0,
		Spec: proto.JobSpec{Type: proto.TypeJobSpec, URL: "https://my.mts-link.ru/1/2/record-new/3", SessionCookie: "secret"}}
}

var cfg = dispatchConfig{Encoding: proto.DefaultEncoding()}

func media(w, h int, audio bool) *proto.MediaInfo {
	return &proto.MediaInfo{Duration: 60, HasVideo: w > 0, HasAudio: audio, Width: w, Height: h, SampleRate: 48000}
}

func stored(j *proto.Job, url string, m *proto.MediaInfo) bool {
	for _, c := range j.Chunks {
		if c.URL == url {
			return applyFetch(j, proto.FetchResult{Type: proto.TypeFetchResult, Job: j.ID, Kind: c.Kind, Index: c.Index,
				Worker: "f1", Status: proto.FetchStored, Key: c.Key, Media: m})
		}
	}
	return false
}

func TestLifecycle(t *testing.T) {
	j, p := newJob(), testPlan()
	out, err := reconcile(j, nil, cfg, false)
	if err != nil || j.State != proto.StateResolving || len(out.fetch) != 1 || out.fetch[0].Kind != proto.FetchResolve ||
		out.fetch[0].SessionCookie != "secret" || out.fetch[0].Key != proto.FlowKey("j1") {
		t.Fatalf("queued job: %v %s %+v", err, j.State, out)
	}
	if !applyResolved(j, p, t0.Add(time.Second)) || j.State != proto.StateFetching || len(j.Units) != 2 || j.Duration != 100 {
		t.Fatalf("resolved: %s %d units", j.State, len(j.Units))
	}
	// The first chunk of every stream first, then the rest by time; then slides.
	var order []string
	for _, c := range j.Chunks {
		order = append(order, c.URL[len("https://m/"):])
	}
	if want := []string{"a1.mp4", "g7.mp4", "d4.mp4", "a2.mp4", "p1.jpg"}; !slices.Equal(order, want) {
		t.Fatalf("chunk order %v, want %v", order, want)
	}
	out, _ = reconcile(j, p, cfg, false)
	if len(out.fetch) != 5 || len(out.units) != 0 || out.finalize != nil || j.State != proto.StateFetching {
		t.Fatalf("after resolve: %d fetch %d units, %s", len(out.fetch), len(out.units), j.State)
	}
	for _, f := range out.fetch {
		if f.SessionCookie != "" {
			t.Fatal("the cookie went out with a media task")
		}
	}
	if out, _ = reconcile(j, p, cfg, false); !out.empty() {
		t.Fatalf("a second reconcile published again: %+v", out)
	}
	// Unit 0 needs a1 and d4, and a final geometry.
	stored(j, "https://m/a1.mp4", media(640, 360, true))
	stored(j, "https://m/d4.mp4", media(1920, 1080, false))
	p.GeometryKnown = false
	if out, _ = reconcile(j, p, cfg, false); len(out.units) != 0 {
		t.Fatal("a unit went out before the geometry was final")
	}
	p.GeometryKnown = true
	out, _ = reconcile(j, p, cfg, false)
	if len(out.units) != 1 || out.units[0].Index != 0 {
		t.Fatalf("want unit 0 only (unit 1 waits for its slide), got %d units", len(out.units))
	}
	u0 := out.units[0]
	if len(u0.Sources) != 2 || u0.Sources[1].At != 30 || u0.Sources[1].Kind != proto.SourceScreenshare || u0.Sources[1].HasAudio ||
		u0.Windows[1].Start != 30 || u0.Windows[1].End != 50 || u0.VideoKey != proto.UnitVideoKey("j1", 0, 0) {
		t.Fatalf("unit 0 = %+v", u0)
	}
	stored(j, "https://m/p1.jpg", nil)
	if out, _ = reconcile(j, p, cfg, false); len(out.units) != 0 {
		t.Fatal("unit 1 went out before its input a2 was stored")
	}
	stored(j, "https://m/a2.mp4", media(640, 360, true))
	out, _ = reconcile(j, p, cfg, false)
	if len(out.units) != 1 || out.units[0].Index != 1 {
		t.Fatalf("want unit 1, got %+v", out.units)
	}
	u1 := out.units[0]
	if err := u1.Validate(); err != nil {
		t.Fatal(err)
	}
	// Unit-relative: the slide window 70–90 is 20–40 in the unit.
	if w := u1.Windows[2]; w.Layout != proto.LayoutSlides || w.Start != 20 || w.End != 40 || !strings.HasPrefix(w.Slide, "slide-") {
		t.Fatalf("slide window %+v", w)
	}
	if s, _ := u1.Source("a2"); s.At != 10 || s.Offset != 0 || s.Duration != 40 {
		t.Fatalf("a2 source %+v", s)
	}
	if j.State != proto.StateFetching {
		t.Fatalf("g7 is still out, state %s", j.State)
	}
	stored(j, "https://m/g7.mp4", media(0, 0, true))
	if out, _ = reconcile(j, p, cfg, false); !out.empty() || j.State != proto.StateRendering {
		t.Fatalf("all fetched: %+v %s", out, j.State)
	}
	for i := range 2 {
		r := proto.UnitResult{Type: proto.TypeUnitResult, Job: "j1", Index: i, Worker: "r1", Status: proto.UnitDone,
			VideoKey: proto.UnitVideoKey("j1", i, 0), AudioKey: proto.UnitAudioKey("j1", i, 0)}
		if !applyUnit(j, r, []string{"r1"}, t0) {
			t.Fatal("unit result ignored")
		}
		if applyUnit(j, r, []string{"r1"}, t0) {
			t.Fatal("a redelivered unit result changed the job")
		}
	}
	out, _ = reconcile(j, p, cfg, false)
	if out.finalize == nil || j.State != proto.StateFinalizing {
		t.Fatalf("all units done: %+v %s", out, j.State)
	}
	if out, _ = reconcile(j, p, cfg, false); out.finalize != nil {
		t.Fatal("finalize published twice without recover")
	}
	if out, _ = reconcile(j, p, cfg, true); out.finalize == nil {
		t.Fatal("recover did not republish the finalize task")
	}
	if pr := progress(j, t0.Add(time.Minute)); pr.Fraction != 0.9 || pr.ETASeconds <= 0 {
		t.Fatalf("progress %+v", pr)
	}
}

func TestRecoverRepublishesQueued(t *testing.T) {
	j, p := newJob(), testPlan()
	reconcile(j, nil, cfg, false)
	applyResolved(j, p, t0)
	first, _ := reconcile(j, p, cfg, false)
	stored(j, "https://m/a1.mp4", media(640, 360, true))
	again, _ := reconcile(j, p, cfg, true)
	if len(again.fetch) != len(first.fetch)-1 {
		t.Fatalf("recover republished %d fetch tasks, want %d", len(again.fetch), len(first.fetch)-1)
	}
	for _, f := range again.fetch {
		if f.URL == "https://m/a1.mp4" {
			t.Fatal("a stored chunk was republished")
		}
	}
}

func TestMissingMediaIsAbsent(t *testing.T) {
	j, p := newJob(), testPlan()
	reconcile(j, nil, cfg, false)
	applyResolved(j, p, t0)
	reconcile(j, p, cfg, false)
	for _, c := range j.Chunks {
		if c.URL == "https://m/d4.mp4" {
			applyFetch(j, proto.FetchResult{Type: proto.TypeFetchResult, Job: "j1", Kind: c.Kind, Index: c.Index, Worker: "f1",
				Status: proto.FetchFailed, Error: "404: the media does not exist"})
		}
	}
	if len(j.Warnings) != 1 || !strings.Contains(j.Warnings[0], "d4") || !strings.Contains(j.Warnings[0], "404") {
		t.Fatalf("warnings %v", j.Warnings)
	}
	probes, absent := probesOf(j, p)
	if _, ok := absent["d4"]; !ok || len(probes) != 0 {
		t.Fatalf("probes %v absent %v", probes, absent)
	}
	stored(j, "https://m/a1.mp4", media(640, 360, true))
	stored(j, "https://m/a2.mp4", media(640, 360, true))
	// A plan that still shows d4 cannot go out: the renderer would lack it.
	if _, err := reconcile(j, p, cfg, false); err == nil {
		t.Fatal("a window showing an absent source was dispatched")
	}
	// The planner, told d4 is absent, shows a1 alone on 30–50 s.
	p.Units[0].Windows[1] = proto.PlanWindow{Start: 30, End: 50, Layout: proto.LayoutSingle, Main: "a1",
		Sources: []string{"a1"}, Audio: []string{"a1"}}
	out, err := reconcile(j, p, cfg, false)
	if err != nil || len(out.units) != 1 {
		t.Fatalf("unit 0 must go out with d4 absent, got %d units, %v", len(out.units), err)
	}
	if _, ok := out.units[0].Source("d4"); ok {
		t.Fatal("an absent source was sent to the renderer")
	}
}

func TestUnitRetryPolicy(t *testing.T) {
	setup := func() *proto.Job {
		j, p := newJob(), testPlan()
		reconcile(j, nil, cfg, false)
		applyResolved(j, p, t0)
		for _, c := range j.Chunks {
			stored(j, c.URL, media(640, 360, true))
		}
		reconcile(j, p, cfg, false)
		return j
	}
	failed := func(j *proto.Job, worker string) proto.UnitResult {
		return proto.UnitResult{Type: proto.TypeUnitResult, Job: "j1", Index: 0, Generation: j.Units[0].Generation,
			Worker: worker, Status: proto.UnitFailed, Error: "ffmpeg exited 1"}
	}
	p := testPlan()

	// One renderer: one retry, then the job fails with the reason.
	j := setup()
	applyUnit(j, failed(j, "r1"), []string{"r1"}, t0)
	if j.State.Terminal() || j.Units[0].Generation != 1 || j.Units[0].State != proto.TaskPending {
		t.Fatalf("first failure: %s %+v", j.State, j.Units[0])
	}
	out, _ := reconcile(j, p, cfg, false)
	if len(out.units) != 1 || out.units[0].Generation != 1 || out.units[0].VideoKey != proto.UnitVideoKey("j1", 0, 1) {
		t.Fatalf("retry not republished with a new generation: %+v", out.units)
	}
	stale := failed(j, "r1")
	stale.Generation = 0
	if applyUnit(j, stale, []string{"r1"}, t0) {
		t.Fatal("a failure of an old generation counted")
	}
	applyUnit(j, failed(j, "r1"), []string{"r1"}, t0)
	if j.State != proto.StateFailed || !strings.Contains(j.Error, "unit 0") || !strings.Contains(j.Error, "ffmpeg exited 1") {
		t.Fatalf("two failures on the only renderer: %s %q", j.State, j.Error)
	}

	// Many renderers: r1 failing twice is excluded; three different renderers fail the job.
	j = setup()
	live := []string{"r1", "r2", "r3", "r4"}
	applyUnit(j, failed(j, "r1"), live, t0)
	applyUnit(j, failed(j, "r1"), live, t0)
	out, _ = reconcile(j, p, cfg, false)
	if j.State.Terminal() || len(out.units) != 1 || !slices.Equal(out.units[0].ExcludeWorkers, []string{"r1"}) {
		t.Fatalf("r1 not excluded: %s %+v", j.State, out.units)
	}
	applyUnit(j, failed(j, "r2"), live, t0)
	if j.State.Terminal() {
		t.Fatal("failed after two renderers")
	}
	applyUnit(j, failed(j, "r3"), live, t0)
	if j.State != proto.StateFailed || !strings.Contains(j.Error, "3 renderers") {
		t.Fatalf("three renderers failed: %s %q", j.State, j.Error)
	}

	// No renderer present: the unit waits instead of failing.
	j = setup()
	applyUnit(j, failed(j, "r1"), nil, t0)
	applyUnit(j, failed(j, "r1"), nil, t0)
	if j.State.Terminal() {
		t.Fatal("failed while no renderer was present to retry")
	}
}

func TestFetchResultsIgnoredWhenStale(t *testing.T) {
	j, p := newJob(), testPlan()
	reconcile(j, nil, cfg, false)
	applyResolved(j, p, t0)
	if !stored(j, "https://m/a1.mp4", media(640, 360, true)) {
		t.Fatal("first result ignored")
	}
	if stored(j, "https://m/a1.mp4", media(640, 360, true)) {
		t.Fatal("a redelivered fetch result changed the job")
	}
	if applyFetch(j, proto.FetchResult{Type: proto.TypeFetchResult, Job: "j1", Kind: proto.FetchMedia, Index: 99, Status: proto.FetchStored, Key: "media/x"}) {
		t.Fatal("an out-of-range chunk index changed the job")
	}
	j.State = proto.StateCanceled
	if stored(j, "https://m/d4.mp4", media(1920, 1080, false)) {
		t.Fatal("a canceled job took a result")
	}
}

func TestIdentity(t *testing.T) {
	s := proto.JobSpec{Type: proto.TypeJobSpec, URL: "u"}
	a := identity("rec", s)
	s2 := s
	s2.SessionCookie, s2.Priority = "c", 5
	if identity("rec", s2) != a {
		t.Fatal("cookie or priority changed the identity")
	}
	s2.UnitSeconds = 600
	if identity("rec", s2) == a || identity("rec2", s) == a {
		t.Fatal("options or recording did not change the identity")
	}
	if id := newJobID(); !proto.ValidJobID(id) || len(id) != 16 || id == newJobID() {
		t.Fatalf("job id %q", id)
	}
}

// A forged or misdirected result cannot point a job at objects that are not
// its own: outputs/, another job's units, another chunk's media.
func TestResultsNamingOtherKeysAreIgnored(t *testing.T) {
	j, p := newJob(), testPlan()
	if _, err := reconcile(j, nil, cfg, false); err != nil || !applyResolved(j, p, t0) || len(j.Chunks) < 2 || len(j.Units) < 2 {
		t.Fatalf("resolving the test job: %v", err)
	}
	c := j.Chunks[0]
	for _, key := range []string{"outputs/x.mp4", "jobs/other/units/00000-g0.mkv", j.Chunks[len(j.Chunks)-1].Key + ".x"} {
		r := proto.FetchResult{Type: proto.TypeFetchResult, Job: j.ID, Kind: c.Kind, Index: c.Index, Worker: "f1",
			Status: proto.FetchStored, Key: key, Media: media(640, 360, true)}
		if applyFetch(j, r) {
			t.Errorf("a fetch result naming %q was applied", key)
		}
	}
	for _, r := range []proto.UnitResult{
		{VideoKey: "outputs/x.mp4"},
		{VideoKey: proto.UnitVideoKey("other", 0, 0), AudioKey: proto.UnitAudioKey("other", 0, 0)},
		{VideoKey: proto.UnitVideoKey(j.ID, 1, 0)},                             // another unit's
		{VideoKey: proto.UnitVideoKey(j.ID, 0, 5), Generation: 5},              // a generation never published
		{VideoKey: proto.UnitVideoKey(j.ID, 0, 0), AudioKey: "outputs/a.flac"}, // audio elsewhere
	} {
		r.Type, r.Job, r.Index, r.Worker, r.Status = proto.TypeUnitResult, j.ID, 0, "r1", proto.UnitDone
		if applyUnit(j, r, []string{"r1"}, t0) {
			t.Errorf("a unit result naming %q / %q was applied", r.VideoKey, r.AudioKey)
		}
	}
	good := proto.UnitResult{Type: proto.TypeUnitResult, Job: j.ID, Index: 0, Worker: "r1", Status: proto.UnitDone,
		VideoKey: proto.UnitVideoKey(j.ID, 0, 0), AudioKey: proto.UnitAudioKey(j.ID, 0, 0)}
	if !applyUnit(j, good, []string{"r1"}, t0) {
		t.Error("the unit's own result was not applied")
	}
	r := proto.FetchResult{Type: proto.TypeFetchResult, Job: j.ID, Kind: c.Kind, Index: c.Index, Worker: "f1",
		Status: proto.FetchStored, Key: c.Key, Media: media(640, 360, true)}
	if !applyFetch(j, r) {
		t.Error("the chunk's own fetch result was not applied")
	}
}
