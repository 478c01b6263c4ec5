package coordinator

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/coordinator/plan"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestSweepPlan(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	job := func(id string, state proto.JobState, ended time.Duration, swept bool) *proto.Job {
		j := &proto.Job{ID: id, State: state, Updated: now.Add(-ended)}
		if state.Terminal() {
			j.Finished = now.Add(-ended)
		}
		if swept {
			j.Swept = now.Add(-time.Minute)
		}
		return j
	}
	jobs := []*proto.Job{
		job("fresh", proto.StateDone, time.Hour, false),
		job("week", proto.StateDone, 8*24*time.Hour, false),
		job("weekswept", proto.StateFailed, 8*24*time.Hour, true),
		job("old", proto.StateCanceled, 200*24*time.Hour, true),
		job("running", proto.StateRendering, 300*24*time.Hour, false),
	}
	ids := func(js []*proto.Job) (out []string) {
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	scratch, records := sweepPlan(jobs, now, 7*24*time.Hour, 180*24*time.Hour)
	if got := ids(scratch); !slices.Equal(got, []string{"week"}) {
		t.Errorf("units of %v swept, want [week] (not fresh, not swept twice, not running)", got)
	}
	if got := ids(records); !slices.Equal(got, []string{"old"}) {
		t.Errorf("records of %v deleted, want [old]", got)
	}
	if s, r := sweepPlan(jobs, now, 0, 0); s != nil || r != nil {
		t.Errorf("retention 0 (keep forever) swept %v and deleted %v", ids(s), ids(r))
	}
}

// The sweep deletes a finished job's units and audio after RetainScratch
// (keeping its flow, plan, output and the shared media) and marks it, so a
// retry renders every unit again; after RetainJobs the record, its
// idempotency key and the job's other objects go; an unfinished job and a
// recent one are untouched.
func TestRetentionSweep(t *testing.T) {
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := startCoordinatorWith(t, local, func(c *Config) { c.RetainScratch, c.RetainJobs = time.Hour, 48*time.Hour })
	raw, err := os.ReadFile("plan/testdata/edge-duplicate-urls.flow.json")
	if err != nil {
		t.Fatal(err)
	}
	flow, err := mts.DecodeFlow(raw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	put := func(key string) {
		t.Helper()
		if _, err := local.Put(h.ctx, key, bytes.NewReader(raw), int64(len(raw)), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := h.js.KeyValue(h.ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id string, state proto.JobState, ended time.Duration) *proto.Job {
		t.Helper()
		j := &proto.Job{Type: proto.TypeJob, ID: id, Spec: proto.JobSpec{Type: proto.TypeJobSpec, URL: goodURL},
			Recording: "rec-" + id, State: state, Created: now.Add(-ended - time.Hour), Updated: now.Add(-ended)}
		if state.Terminal() {
			j.Finished = j.Updated
		}
		p, err := plan.Plan(flow, h.coord.planOptions(j))
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range p.Units {
			us := proto.UnitState{Index: i, Start: u.Start, End: u.End, State: proto.TaskDone, Generation: 0,
				VideoKey: proto.UnitVideoKey(id, i, 0), AudioKey: proto.UnitAudioKey(id, i, 0)}
			put(us.VideoKey)
			put(us.AudioKey)
			j.Units = append(j.Units, us)
		}
		if state == proto.StateFailed {
			j.Units[0].State = proto.TaskFailed
		}
		put(proto.FlowKey(id))
		data, _ := json.Marshal(j)
		if _, err := kv.Create(h.ctx, id, data); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Create(h.ctx, indexPrefix+identity(j.Recording, j.Spec), []byte(id)); err != nil {
			t.Fatal(err)
		}
		return j
	}
	mk("swept1", proto.StateFailed, 2*time.Hour)
	mk("expired1", proto.StateDone, 72*time.Hour)
	mk("rendering1", proto.StateRendering, 72*time.Hour)
	mk("recent1", proto.StateDone, 10*time.Minute)
	put(proto.OutputKey("Lecture one"))
	put(proto.MediaKey("https://example.org/chunk.mp4", "mp4"))

	if err := h.coord.sweep(h.ctx); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	objs, err := local.List(h.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		keys[o.Key] = true
	}
	has := func(key string, want bool) {
		t.Helper()
		if keys[key] != want {
			t.Errorf("after the sweep %s exists: %v, want %v", key, keys[key], want)
		}
	}
	has(proto.UnitVideoKey("swept1", 0, 0), false)
	has(proto.UnitAudioKey("swept1", 0, 0), false)
	has(proto.FlowKey("swept1"), true)
	for k := range keys {
		if strings.HasPrefix(k, "jobs/expired1/") {
			t.Errorf("after the sweep %s of the expired job is left", k)
		}
	}
	has(proto.UnitVideoKey("rendering1", 0, 0), true)
	has(proto.UnitVideoKey("recent1", 0, 0), true)
	has(proto.OutputKey("Lecture one"), true)
	has(proto.MediaKey("https://example.org/chunk.mp4", "mp4"), true)

	if j := h.status("swept1"); j.Swept.IsZero() {
		t.Error("the swept job's record does not say its units were deleted")
	}
	if _, errHdr := h.request(proto.SubjectStatus, []byte(`{"job": "expired1"}`)); !strings.Contains(errHdr, "not found") {
		t.Errorf("the expired job's record is still there (status: %q)", errHdr)
	}
	if _, err := kv.Get(h.ctx, indexPrefix+identity("rec-expired1", proto.JobSpec{Type: proto.TypeJobSpec, URL: goodURL})); err == nil {
		t.Error("the expired job's idempotency key is still there: a new submission would be answered with a deleted job")
	}
	// A retry of the swept job renders every unit again, the done ones too.
	if _, err := h.coord.Retry(h.ctx, "swept1"); err != nil {
		t.Fatal(err)
	}
	j := h.status("swept1")
	if !j.Swept.IsZero() {
		t.Error("the retried job still says it is swept")
	}
	for _, u := range j.Units {
		if u.State == proto.TaskDone || u.Generation == 0 {
			t.Errorf("after retrying a swept job unit %d is %s generation %d; want it rendered again", u.Index, u.State, u.Generation)
		}
	}
}

// A finalize scratch directory nothing changed in for hours (its
// coordinator died) is removed; a live one is kept.
func TestSweepRemovesDeadFinalizeScratch(t *testing.T) {
	dir := t.TempDir()
	c := &Coordinator{cfg: Config{WorkDir: dir}}
	dead := filepath.Join(dir, finalizeDirPrefix+"job1-123")
	live := filepath.Join(dir, finalizeDirPrefix+"job2-456")
	other := filepath.Join(dir, "not-ours")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "sub", "unit.ts"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-7 * time.Hour)
	for _, p := range []string{filepath.Join(dead, "sub", "unit.ts"), filepath.Join(dead, "sub"), dead,
		filepath.Join(other, "sub", "unit.ts"), filepath.Join(other, "sub"), other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	c.sweepScratchDirs(time.Now())
	for d, want := range map[string]bool{dead: false, live: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// The job record is one KV value rewritten on every result, so its size per
// chunk bounds how long a recording can be: at about 540 bytes a chunk, the 8 MB
// max_payload of the shipped NATS configs (and the embedded server) holds
// some 15,000 chunks, against 100-300 for a 3-hour lecture. This fails when
// a change makes the per-chunk record much bigger.
func TestJobRecordSizePerChunk(t *testing.T) {
	raw, err := os.ReadFile("plan/testdata/audio-only-40.flow.json")
	if err != nil {
		t.Fatal(err)
	}
	flow, err := mts.DecodeFlow(raw)
	if err != nil {
		t.Fatal(err)
	}
	j := &proto.Job{Type: proto.TypeJob, ID: "recordsize1", State: proto.StateResolving,
		Spec: proto.JobSpec{Type: proto.TypeJobSpec, URL: goodURL}}
	p, err := plan.Plan(flow, plan.Options{UnitSeconds: 1800, MaxHeight: 720, FPS: 25})
	if err != nil {
		t.Fatal(err)
	}
	applyResolved(j, p, time.Now())
	if len(j.Chunks) < 40 {
		t.Fatalf("%d chunks, want the flow's 40+", len(j.Chunks))
	}
	for i := range j.Chunks {
		c := &j.Chunks[i]
		c.State, c.Worker, c.Attempts, c.Bytes = proto.TaskDone, "fetcher-7f3c9a1b2d", 1, 48_000_000
		c.Media = &proto.MediaInfo{Duration: 1799.96, Size: 48_000_000, Format: "mov,mp4,m4a,3gp,3g2,mj2", HasVideo: true,
			HasAudio: true, Width: 1280, Height: 720, FPS: 25, VideoCodec: "h264", AudioCodec: "aac", SampleRate: 48000,
			Channels: 1, Source: "direct"}
	}
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	per := len(data) / len(j.Chunks)
	t.Logf("job record: %d bytes for %d chunks (%d bytes a chunk): %d chunks fit in %d bytes",
		len(data), len(j.Chunks), per, bus.MaxPayload/per, bus.MaxPayload)
	if per > 1024 {
		t.Errorf("the job record takes %d bytes a chunk; keep it under 1 KB so a long recording's record fits a NATS message", per)
	}
}
