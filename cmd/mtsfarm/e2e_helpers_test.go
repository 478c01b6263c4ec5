package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/coordinator"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// End-to-end test helpers: the real embedded farm (startFarm, the `run`
// command), the fake MTS Link, real ffmpeg, and checks of an output's pixels,
// tones and duration against what the scenario says must be seen and heard.

// e2eTools fails the test unless every program is on PATH.
func e2eTools(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not found on PATH: run scripts/test.sh (it installs ffmpeg, minio and nats, the last two into .tools/bin) and put .tools/bin on PATH", p)
		}
	}
}

// e2eNATSCLI returns the real `nats` CLI: from PATH, else the repository's
// .tools/bin.
func e2eNATSCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", ".tools", "bin", "nats"))
	if err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatal("the nats CLI is not on PATH nor in .tools/bin: run scripts/test.sh (it installs it into .tools/bin)")
	return ""
}

// e2eScenario loads a bundled scenario (scripts/scenarios) or, for names
// starting with testdata/, one of this package's.
func e2eScenario(t *testing.T, name string) *mtstest.Scenario {
	t.Helper()
	var sc *mtstest.Scenario
	var err error
	if strings.HasPrefix(name, "testdata/") {
		sc, err = mtstest.LoadScenario(name)
	} else {
		sc, err = mtstest.Bundled(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// e2eLogger logs to the test at info level (shown on failure or with -v).
func e2eLogger(t *testing.T) zerolog.Logger {
	return bustest.Logger(t).Level(zerolog.InfoLevel)
}

// e2eEnv is the environment the commands see: nothing from the real one.
func e2eEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// e2eCommand runs `mtsfarm ARGS` in this process with ctx, as main does, and
// returns the exit status, stdout and stderr.
func e2eCommand(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb syncBuffer
	code := run(ctx, &cli{stdout: &out, stderr: &errb, getenv: e2eEnv(env)}, args)
	return code, out.String(), errb.String()
}

// e2eFlags are the flags of an embedded farm for the test: a fresh data dir,
// a NATS listener on a free loopback port, the fake server's base URL.
func e2eFlags(t *testing.T, baseURL string) runFlags {
	f := runFlags{dataDir: t.TempDir(), listen: "127.0.0.1:0", encoder: "auto", progress: "none",
		fetchSlots: 2, renderSlots: 1}
	f.coord.cfg = coordinator.DefaultConfig()
	f.coord.baseURLs = stringList{baseURL}
	return f
}

// e2eStartFarm starts the embedded farm of `mtsfarm run` and stops it at
// cleanup.
func e2eStartFarm(t *testing.T, f runFlags) *farm {
	t.Helper()
	fm, err := startFarm(context.Background(), f, e2eLogger(t))
	if err != nil {
		t.Fatalf("starting the embedded farm: %v", err)
	}
	t.Cleanup(fm.close)
	return fm
}

// e2eSubmit submits through the job API and returns the one job.
func e2eSubmit(t *testing.T, nc *nats.Conn, req proto.SubmitRequest) proto.SubmittedJob {
	t.Helper()
	job, err := submitLocal(context.Background(), nc, req)
	if err != nil {
		t.Fatalf("submitting %s: %v", req.URL, err)
	}
	return job
}

// e2eWait polls the job API until the job ends and returns its record. A
// coordinator that is still starting (no responder yet) is waited for.
func e2eWait(t *testing.T, nc *nats.Conn, id string, limit time.Duration) *proto.Job {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var j proto.Job
		err := apiRequest(context.Background(), nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j)
		switch {
		case err == nil && j.State.Terminal():
			return &j
		case err != nil && !errors.Is(err, errNoCoordinator):
			t.Fatalf("status of %s: %v", id, err)
		case time.Now().After(deadline):
			t.Fatalf("job %s still %s after %s (%v): %+v", id, j.State, limit, err, j.Progress)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// e2eJobKeys lists the keys of the jobs bucket.
func e2eJobKeys(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys
}

// e2eFiles lists the regular files under dir (relative paths); none when
// dir does not exist.
func e2eFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// e2eMediaGets counts the GET requests the fake server answered for each
// media chunk and slide path of webinar wi (paths never asked for count 0).
func e2eMediaGets(fake *mtstest.Server, wi int) map[string]int {
	n := map[string]int{}
	for _, c := range fake.Chunks(wi) {
		n[c.Path] = 0
	}
	for _, s := range fake.Slides(wi) {
		if !s.End {
			n[s.Path] = 0
		}
	}
	for _, r := range fake.Requests() {
		if _, ok := n[r.Path]; ok && r.Method == "GET" {
			n[r.Path]++
		}
	}
	return n
}

// e2eFlowGets counts the GET requests for the flow API.
func e2eFlowGets(fake *mtstest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == "GET" && strings.HasPrefix(r.Path, "/api/") {
			n++
		}
	}
	return n
}

var e2eJobLine = regexp.MustCompile(`(?m)^job ([a-z0-9_-]+): `)

// e2eJobID is the job id `mtsfarm run` printed on stderr.
func e2eJobID(t *testing.T, stderr string) string {
	t.Helper()
	m := e2eJobLine.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no \"job ID:\" line in the output of mtsfarm run:\n%s", stderr)
	}
	return m[1]
}

// ---------------------------------------------------------------- fidelity

// e2eShot is what the output shows at one time: a layout and its sources,
// each named by the color it must have ("#rrggbb"). proto.LayoutRects says
// where each goes; every other part of the frame must be black.
type e2eShot struct {
	at               float64
	layout           string
	main, pip, slide string
	column, grid     []string
	description      string
}

// e2eExpect is what an output must be.
type e2eExpect struct {
	duration      float64 // the API duration, seconds
	width, height int
	fps           int
	shots         []e2eShot
	// toneWindows start one-second windows in which every tone of the
	// scenario is measured (e2eTonesAt says which must be heard).
	toneWindows []float64
	// chunks are the scenario's media chunks (mtstest.Server.Chunks): a
	// chunk with a missing fault is never heard.
	chunks []mtstest.Chunk
}

// Levels: the fake server's tones are sines of amplitude 1/8 (-18 dBFS).
// Heard once, a tone keeps that level through the mix (no normalization, no
// -3 dB upmix); heard twice it would be 6 dB louder.
const (
	e2eToneLevel  = -18.06
	e2eToneSlack  = 3.0
	e2eSilenceMax = -50.0
	e2eColorSlack = 32
	e2eEdgeMargin = 10
)

// e2eTonesAt says which tones must be heard throughout [a, a+d] (on) and
// which must not be heard at all there (off); a tone that starts or stops
// inside the window (or within 0.15 s of it) is in neither list. A chunk
// with a missing fault is never heard.
func e2eTonesAt(chunks []mtstest.Chunk, a, d float64) (on, off []float64) {
	spans := map[int][][2]float64{}
	for _, c := range chunks {
		if c.ToneHz <= 0 || c.Kind == mtstest.KindScreenshare {
			continue
		}
		if _, ok := spans[c.ToneHz]; !ok {
			spans[c.ToneHz] = nil // known, maybe never heard
		}
		if !slices.Contains(c.Faults, mtstest.FaultMissing) {
			spans[c.ToneHz] = append(spans[c.ToneHz], [2]float64{c.Start, c.Start + c.Duration})
		}
	}
	hzs := slices.Sorted(maps.Keys(spans))
	for _, hz := range hzs {
		// Chunks of one stream abut: merge them first.
		ss := spans[hz]
		slices.SortFunc(ss, func(x, y [2]float64) int { return cmp.Compare(x[0], y[0]) })
		var merged [][2]float64
		for _, s := range ss {
			if n := len(merged); n > 0 && s[0] <= merged[n-1][1]+1e-3 {
				merged[n-1][1] = math.Max(merged[n-1][1], s[1])
				continue
			}
			merged = append(merged, s)
		}
		covered, touched := false, false
		for _, s := range merged {
			covered = covered || (s[0] <= a-0.05 && s[1] >= a+d+0.05)
			touched = touched || (s[0] < a+d+0.15 && s[1] > a-0.15)
		}
		switch {
		case covered:
			on = append(on, float64(hz))
		case !touched:
			off = append(off, float64(hz))
		}
	}
	return on, off
}

// e2eCheckOutput checks an output file against what it must be: geometry,
// duration (±1 frame), the colors of every shown source at each shot and
// black elsewhere, and every tone heard or not heard at its level.
func e2eCheckOutput(t *testing.T, file string, want e2eExpect) {
	t.Helper()
	ctx := context.Background()
	p, err := mtstest.Probe(ctx, file)
	if err != nil {
		t.Fatalf("probing the output: %v", err)
	}
	v, okV := p.Video()
	a, okA := p.Audio()
	if !okV || !okA {
		t.Fatalf("output streams %+v: want video and audio", p.Streams)
	}
	if v.Width != want.width || v.Height != want.height {
		t.Errorf("output is %dx%d, want %dx%d", v.Width, v.Height, want.width, want.height)
	}
	frame := 1 / float64(want.fps)
	for _, d := range []struct {
		what string
		got  float64
	}{{"file", p.Duration}, {"video stream", v.Duration}, {"audio stream", a.Duration}} {
		if math.Abs(d.got-want.duration) > frame+1e-3 {
			t.Errorf("%s duration %.3f s, want the API duration %.3f s ±1 frame (%.3f s)", d.what, d.got, want.duration, frame)
		}
	}
	for _, s := range want.shots {
		e2eCheckShot(t, file, s, v.Width, v.Height)
	}
	for _, at := range want.toneWindows {
		on, off := e2eTonesAt(want.chunks, at, 1)
		if len(on)+len(off) == 0 {
			continue
		}
		hz := append(append([]float64{}, on...), off...)
		lv, err := mtstest.ToneLevels(ctx, file, at, 1, hz...)
		if err != nil {
			t.Fatalf("measuring tones at %gs: %v", at, err)
		}
		for i, h := range hz {
			if i < len(on) {
				if math.Abs(lv[i]-e2eToneLevel) > e2eToneSlack {
					t.Errorf("%g–%gs: the %g Hz tone is at %.1f dBFS, want it heard once at about %.1f (±%g)", at, at+1, h, lv[i], e2eToneLevel, e2eToneSlack)
				}
			} else if lv[i] > e2eSilenceMax {
				t.Errorf("%g–%gs: the %g Hz tone is at %.1f dBFS, want it not heard (below %g)", at, at+1, h, lv[i], e2eSilenceMax)
			}
		}
	}
}

// e2eCheckShot samples the centre of every source's rectangle and points of
// the frame outside every rectangle (which must be black) in one frame.
func e2eCheckShot(t *testing.T, file string, s e2eShot, w, h int) {
	t.Helper()
	rects := proto.LayoutRects(s.layout, s.main, s.pip, s.slide, s.column, s.grid, w, h)
	type probe struct {
		what string
		want mtstest.RGB
	}
	var points [][2]int
	var probes []probe
	for _, r := range rects {
		points = append(points, [2]int{r.X + r.W/2, r.Y + r.H/2})
		probes = append(probes, probe{fmt.Sprintf("%s %s of %s", r.Role, r.ID, s.layout), mtstest.MustColor(r.ID)})
	}
	// An 8×6 lattice of cell centres: those well outside every rectangle
	// must be black (no stale source, no source drawn where it is not
	// shown).
	for j := range 6 {
		for i := range 8 {
			x, y := w*(2*i+1)/16, h*(2*j+1)/12
			outside := true
			for _, r := range rects {
				if x > r.X-e2eEdgeMargin && x < r.X+r.W+e2eEdgeMargin && y > r.Y-e2eEdgeMargin && y < r.Y+r.H+e2eEdgeMargin {
					outside = false
				}
			}
			if outside {
				points = append(points, [2]int{x, y})
				probes = append(probes, probe{"background", mtstest.RGB{}})
			}
		}
	}
	got, err := mtstest.SampleColors(context.Background(), file, s.at, points...)
	if err != nil {
		t.Fatalf("sampling the output at %gs: %v", s.at, err)
	}
	for i, pr := range probes {
		if d := got[i].Distance(pr.want); d > e2eColorSlack {
			t.Errorf("at %gs (%s): %s at %v is %s, want %s", s.at, s.description, pr.what, points[i], got[i], pr.want)
		}
	}
}

// e2eJS is JetStream on the farm's connection.
func e2eJS(t *testing.T, fm *farm) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(fm.nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// e2eWaitAPI waits until the farm's coordinator answers the job API.
func e2eWaitAPI(t *testing.T, fm *farm) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []map[string]any
		err := apiRequest(context.Background(), fm.nc, proto.SubjectList, proto.JobRequest{}, &list)
		if err == nil {
			return
		}
		if !errors.Is(err, errNoCoordinator) || time.Now().After(deadline) {
			t.Fatalf("the job API does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
