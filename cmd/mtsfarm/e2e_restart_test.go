package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/coordinator"
	"github.com/mtsfarm/mtsfarm/fetcher"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/mtsfarm/mtsfarm/renderer"
)

// e2eCoordinator is one coordinator process of a farm, on its own NATS
// connection so it can be killed alone.
type e2eCoordinator struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

// kill drops the coordinator's connection at once (no drain: whatever it
// had in flight is lost, as when the process dies), then stops it.
func (c *e2eCoordinator) kill(t *testing.T) {
	t.Helper()
	c.nc.Close()
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the killed coordinator did not return")
	}
}

// TestE2ECoordinatorRestart runs the roles of a farm separately on one
// embedded JetStream: a fetcher, a renderer, and a coordinator that is killed
// (its connection dropped) once the first of three 20-second units of the
// lecture is rendered, kept down while the renderer finishes another unit,
// and started again. The job finishes from the KV record and the streams:
// every unit rendered exactly once (renderer log, unit results on the wire,
// unit attempts), every chunk and slide downloaded once, the flow resolved
// once, and the output is the lecture.
func TestE2ECoordinatorRestart(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "lecture-slides.json")
	fake := mtstest.Start(t, sc)
	log := e2eLogger(t)
	ctx := context.Background()

	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: t.TempDir(), ServerName: "e2e-restart", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := emb.Connect(nats.Name("e2e workers"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(ctx, js, bus.Definitions(1)); err != nil {
		t.Fatal(err)
	}
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ff := ffmpeg.New(log)
	work := t.TempDir()

	// Every unit result published, as any subscriber on the wire sees it
	// (the stream deduplicates; a core subscription does not).
	var mu sync.Mutex
	var results []proto.UnitResult
	sub, err := nc.Subscribe(proto.ResultSubject("*", proto.ResultRender), func(m *nats.Msg) {
		var r proto.UnitResult
		if json.Unmarshal(m.Data, &r) == nil {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	resultCount := func() int { mu.Lock(); defer mu.Unlock(); return len(results) }

	fc := fetcher.DefaultConfig()
	fc.WorkerID, fc.Slots, fc.WorkDir, fc.MTSBaseURLs = "fetcher-e2e", 2, work, []string{fake.URL}
	fw, err := fetcher.New(fc, fetcher.Deps{JS: js, Store: store, FFmpeg: ff, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	var rlog syncBuffer
	rc := renderer.DefaultConfig()
	rc.WorkerID, rc.Slots, rc.WorkDir = "renderer-e2e", 1, work
	rw, err := renderer.New(rc, renderer.Deps{JS: js, Store: store, FFmpeg: ff, Log: zerolog.New(&rlog).Level(zerolog.InfoLevel).With().Timestamp().Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("renderer log:\n%s", rlog.String())
		}
	})
	wctx, wstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{fw.Run, rw.Run} {
		wg.Go(func() {
			if err := run(wctx); err != nil && wctx.Err() == nil {
				t.Errorf("worker stopped: %v", err)
			}
		})
	}
	t.Cleanup(func() { wstop(); wg.Wait() })

	startCoordinator := func() *e2eCoordinator {
		t.Helper()
		cnc, err := emb.Connect(nats.Name("e2e coordinator"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := coordinator.DefaultConfig()
		cfg.WorkerID, cfg.WorkDir, cfg.MTSBaseURLs, cfg.Log = "coordinator-e2e", work, []string{fake.URL}, log
		c, err := coordinator.New(ctx, cfg, cnc, store, ff)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		ec := &e2eCoordinator{nc: cnc, cancel: cancel, done: make(chan error, 1)}
		go func() { ec.done <- c.Run(cctx) }()
		return ec
	}
	kv, err := js.KeyValue(ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	record := func(id string) *proto.Job {
		t.Helper()
		e, err := kv.Get(ctx, id)
		if err != nil {
			t.Fatalf("reading job %s from KV: %v", id, err)
		}
		var j proto.Job
		if err := json.Unmarshal(e.Value(), &j); err != nil {
			t.Fatal(err)
		}
		return &j
	}
	unitsDone := func(j *proto.Job) int {
		n := 0
		for _, u := range j.Units {
			if u.State == proto.TaskDone {
				n++
			}
		}
		return n
	}

	first := startCoordinator()
	job := e2eSubmit(t, nc, proto.SubmitRequest{URL: fake.RecordingURL(0), UnitSeconds: 20})

	// Kill the coordinator as soon as a unit is recorded done.
	deadline := time.Now().Add(3 * time.Minute)
	var atKill *proto.Job
	for atKill == nil {
		j := record(job.ID)
		if j.State.Terminal() {
			t.Fatalf("job ended %s before any unit was seen done: %s", j.State, j.Error)
		}
		if unitsDone(j) > 0 {
			atKill = j
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no unit done after 3 minutes: %+v", j.Units)
		}
		time.Sleep(50 * time.Millisecond)
	}
	first.kill(t)
	if len(atKill.Units) != 3 {
		t.Fatalf("the 60 s lecture in 20 s units has %d units, want 3", len(atKill.Units))
	}
	if unitsDone(atKill) == len(atKill.Units) || atKill.State == proto.StateFinalizing {
		t.Fatalf("every unit was done before the kill (%s): nothing left to test", atKill.State)
	}
	t.Logf("coordinator killed with %d of %d units done", unitsDone(atKill), len(atKill.Units))

	// While it is down the renderer goes on: wait for a unit result the
	// record does not have (it waits in the results stream), and check
	// that the record does not change.
	down := time.Now()
	for wait := down.Add(time.Minute); resultCount() <= unitsDone(atKill) && time.Now().Before(wait); {
		time.Sleep(100 * time.Millisecond)
	}
	if resultCount() <= unitsDone(atKill) {
		t.Fatalf("no unit finished in the minute the coordinator was down")
	}
	t.Logf("%d unit results published, %d recorded, %s after the kill", resultCount(), unitsDone(atKill), time.Since(down).Round(time.Millisecond))
	if j := record(job.ID); unitsDone(j) != unitsDone(atKill) || j.State != atKill.State {
		t.Fatalf("the record changed with no coordinator running: %s, %d units done", j.State, unitsDone(j))
	}

	second := startCoordinator()
	t.Cleanup(func() { second.kill(t) })
	j := e2eWait(t, nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone {
		t.Fatalf("job ended %s after the restart: %s", j.State, j.Error)
	}

	// Every unit rendered exactly once.
	rendering := map[int]int{}
	again := 0
	sc2 := bufio.NewScanner(strings.NewReader(rlog.String()))
	for sc2.Scan() {
		var line struct {
			Message string `json:"message"`
			Job     string `json:"job_id"`
			Unit    *int   `json:"unit"`
		}
		if json.Unmarshal(sc2.Bytes(), &line) != nil || line.Job != job.ID || line.Unit == nil {
			continue
		}
		switch {
		case line.Message == "rendering unit":
			rendering[*line.Unit]++
		case strings.Contains(line.Message, "already stored"):
			again++
		}
	}
	perUnit := map[int]int{}
	mu.Lock()
	for _, r := range results {
		if r.Job == job.ID {
			perUnit[r.Index]++
			if r.Status != proto.UnitDone {
				t.Errorf("unit %d result %s: %s", r.Index, r.Status, r.Error)
			}
		}
	}
	mu.Unlock()
	for _, u := range j.Units {
		if rendering[u.Index] != 1 || perUnit[u.Index] != 1 || u.Attempts != 1 || u.State != proto.TaskDone {
			t.Errorf("unit %d: rendered %d times, %d results published, %d attempts, %s; want once, done",
				u.Index, rendering[u.Index], perUnit[u.Index], u.Attempts, u.State)
		}
	}
	if again > 0 {
		t.Errorf("%d units were sent to the renderer again after they were stored", again)
	}

	// Nothing downloaded twice, the flow resolved once.
	for path, n := range e2eMediaGets(fake, 0) {
		if n != 1 {
			t.Errorf("%s was downloaded %d times, want once", path, n)
		}
	}
	if n := e2eFlowGets(fake); n != 1 {
		t.Errorf("the flow was requested %d times, want once", n)
	}

	out := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := store.GetFile(ctx, j.OutputKey, out); err != nil {
		t.Fatal(err)
	}
	for _, c := range e2eScenarioCases() {
		if c.file == "lecture-slides.json" {
			e2eCheckOutput(t, out, e2eExpect{duration: sc.Webinars[0].Duration, width: c.width, height: c.height,
				fps: 25, shots: c.shots, toneWindows: c.toneWindows, chunks: fake.Chunks(0)})
		}
	}
}

// TestE2ERunResumeAndReuse is `mtsfarm run` as a user meets it: stopped
// (Ctrl-C) while the media downloads, it exits non-zero and says how to go
// on; run again on the same data dir, it resumes the same job without
// fetching what was stored and exits 0 with the output; run a third time,
// it reuses everything (no request to MTS Link at all) and writes the same
// output again.
func TestE2ERunResumeAndReuse(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "testdata/e2e-short.json")
	fake := mtstest.Start(t, sc)
	dataDir := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.mp4")
	args := []string{"run", "--data-dir", dataDir, "--mts-base-url", fake.URL, "--progress", "none", "-o", out, fake.RecordingURL(0)}

	// Run 1: canceled once the first media chunk is stored.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := e2eCommand(ctx, nil, args...)
		done <- result{code, stdout, stderr}
	}()
	media := filepath.Join(dataDir, "store", "objects", "media")
	var r1 result
	canceled := false
	for deadline := time.Now().Add(2 * time.Minute); !canceled; {
		select {
		case r1 = <-done:
			t.Fatalf("mtsfarm run ended (exit %d) before it was stopped:\n%s", r1.code, r1.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		for _, f := range e2eFiles(t, media) {
			if strings.HasSuffix(f, ".mp4") {
				cancel()
				canceled = true
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no media stored after 2 minutes")
		}
	}
	select {
	case r1 = <-done:
	case <-time.After(time.Minute):
		t.Fatal("mtsfarm run did not stop within a minute of Ctrl-C")
	}
	if r1.code == 0 || !strings.Contains(r1.stderr, "run the same command again to resume") {
		t.Fatalf("stopped run: exit %d, stderr:\n%s\nwant non-zero and how to resume", r1.code, r1.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a stopped run wrote the output file")
	}
	jobID := e2eJobID(t, r1.stderr)
	var stored []string
	for _, c := range fake.Chunks(0) {
		if _, err := os.Stat(filepath.Join(dataDir, "store", "objects", filepath.FromSlash(proto.MediaKey(c.URL, "mp4")))); err == nil {
			stored = append(stored, c.Path)
		}
	}
	if len(stored) == 0 {
		t.Fatalf("no chunk is stored under its media key after the stopped run: %q", e2eFiles(t, media))
	}
	fake.ResetLog()

	// Run 2: resumes the same job.
	code, stdout, stderr := e2eCommand(context.Background(), nil, args...)
	if code != 0 {
		t.Fatalf("resumed run exited %d:\n%s", code, stderr)
	}
	if id := e2eJobID(t, stderr); id != jobID {
		t.Errorf("the resumed run made job %s; want it to go on with %s", id, jobID)
	}
	if !strings.HasPrefix(stdout, out+"\t") {
		t.Errorf("resumed run printed %q", stdout)
	}
	gets := e2eMediaGets(fake, 0)
	for _, p := range stored {
		if gets[p] != 0 {
			t.Errorf("%s was stored by the stopped run and downloaded again %d times", p, gets[p])
		}
	}
	if n := e2eFlowGets(fake); n != 0 {
		t.Errorf("the resumed run asked for the flow %d times; it was resolved before the stop", n)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	e2eCheckOutput(t, out, e2eExpect{duration: sc.Webinars[0].Duration, width: 640, height: 360, fps: 25,
		chunks: fake.Chunks(0), toneWindows: []float64{0.5, 3, 6.5},
		shots: []e2eShot{
			{at: 1, layout: proto.LayoutSingle, main: e2eRed, description: "the lecturer"},
			{at: 5, layout: proto.LayoutSingle, main: e2eRed, description: "the lecturer's third chunk"},
		}})

	// Run 3: everything is there.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	fake.ResetLog()
	code, stdout, stderr = e2eCommand(context.Background(), nil, args...)
	if code != 0 {
		t.Fatalf("third run exited %d:\n%s", code, stderr)
	}
	if reqs := fake.Requests(); len(reqs) != 0 {
		t.Errorf("the third run made %d requests to MTS Link (first %s %s); want none", len(reqs), reqs[0].Method, reqs[0].Path)
	}
	if id := e2eJobID(t, stderr); id != jobID {
		t.Errorf("the third run made job %s; want the finished %s", id, jobID)
	}
	again, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the third run wrote no output: %v (stdout %q)", err, stdout)
	}
	if string(again) != string(first) {
		t.Errorf("the third run's output (%d bytes) differs from the second's (%d bytes)", len(again), len(first))
	}
}
