package coordinator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// These tests run a real coordinator on a real embedded JetStream. Workers
// are played by the test, which publishes their results on the wire; the
// whole farm (real fetchers and renderers) is tested end to end in
// cmd/mtsfarm.

type harness struct {
	t     *testing.T
	nc    *nats.Conn
	js    jetstream.JetStream
	store blob.Store
	ctx   context.Context
	coord *Coordinator
}

func startCoordinator(t *testing.T, tune ...func(*Config)) *harness {
	t.Helper()
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return startCoordinatorWith(t, store, tune...)
}

// startCoordinatorWith runs a coordinator on store (a wrapper that injects
// faults, say) and an embedded NATS.
func startCoordinatorWith(t *testing.T, store blob.Store, tune ...func(*Config)) *harness {
	t.Helper()
	_, nc, js := bustest.Start(t)
	cfg := DefaultConfig()
	cfg.WorkerID, cfg.WorkDir, cfg.Log = "coord-test", t.TempDir(), bustest.Logger(t)
	cfg.MTSBaseURLs = []string{"http://127.0.0.1:9"}
	for _, f := range tune {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, cfg, nc, store, ffmpeg.New(cfg.Log))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("coordinator did not stop")
		}
	})
	h := &harness{t: t, nc: nc, js: js, store: store, ctx: ctx, coord: c}
	// Wait for the micro service.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := nc.Request("$SRV.PING.mtsfarm", nil, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mtsfarm micro service did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

// request sends raw bytes to an API subject and returns the body and the
// error header (empty on success).
func (h *harness) request(subject string, body []byte) ([]byte, string) {
	h.t.Helper()
	msg, err := h.nc.Request(subject, body, 10*time.Second)
	if err != nil {
		h.t.Fatalf("request %s: %v", subject, err)
	}
	return msg.Data, msg.Header.Get(micro.ErrorHeader)
}

func (h *harness) jobKeys() []string {
	kv, err := h.js.KeyValue(h.ctx, proto.BucketJobs)
	if err != nil {
		h.t.Fatal(err)
	}
	lister, err := kv.ListKeys(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys
}

func (h *harness) pending(stream string) uint64 {
	s, err := h.js.Stream(h.ctx, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

const goodURL = "https://my.mts-link.ru/1/2/record-new/123/record-file/456"

func TestBadSubmissionsCreateNothing(t *testing.T) {
	h := startCoordinator(t)
	cases := []struct{ name, body, want string }{
		{"empty body", ``, "empty request"},
		{"not JSON", `url=https://x`, "not valid JSON"},
		{"unknown field", `{"ulr": "` + goodURL + `"}`, `unknown field "ulr"`},
		{"url not a string", `{"url": 5}`, `field "url" must be a string`},
		{"urls not a list", `{"urls": "` + goodURL + `"}`, `field "urls" must be a list`},
		{"no url", `{"name": "x"}`, `give "url"`},
		{"not an MTS host", `{"url": "https://example.com/1/2/record-new/3"}`, "not an MTS Link recording URL"},
		{"malformed path", `{"url": "https://my.mts-link.ru/1/2/record/3"}`, "expected https://my.mts-link.ru/"},
		{"one bad url of two", `{"urls": ["` + goodURL + `", "ftp://x"]}`, "url 2"},
		{"tiny units", `{"url": "` + goodURL + `", "unit_seconds": 1}`, "unit_seconds"},
		{"two objects", `{"url": "` + goodURL + `"} {"url": "` + goodURL + `"}`, "trailing data"},
		{"wrong type name", `{"type": "mtsfarm.v2.submit", "url": "` + goodURL + `"}`, "type is"},
	}
	for _, c := range cases {
		body, errHdr := h.request(proto.SubjectSubmit, []byte(c.body))
		var ae proto.APIError
		if errHdr == "" || json.Unmarshal(body, &ae) != nil || ae.Code != 400 || !strings.Contains(ae.Error, c.want) {
			t.Errorf("%s: header %q body %s; want a 400 mentioning %q", c.name, errHdr, body, c.want)
		}
	}
	if keys := h.jobKeys(); len(keys) != 0 {
		t.Fatalf("rejected submissions created KV keys %v", keys)
	}
	if n := h.pending(proto.StreamFetch); n != 0 {
		t.Fatalf("rejected submissions published %d fetch tasks", n)
	}
}

func (h *harness) submit(body string) proto.SubmitReply {
	h.t.Helper()
	data, errHdr := h.request(proto.SubjectSubmit, []byte(body))
	if errHdr != "" {
		h.t.Fatalf("submit %s: %s %s", body, errHdr, data)
	}
	var r proto.SubmitReply
	if err := json.Unmarshal(data, &r); err != nil || r.Validate() != nil {
		h.t.Fatalf("submit reply %s: %v", data, err)
	}
	return r
}

func TestSubmitIsIdempotent(t *testing.T) {
	h := startCoordinator(t)
	first := h.submit(`{"url": "` + goodURL + `", "session_cookie": "s3cret"}`)
	if len(first.Jobs) != 1 || first.Jobs[0].Existing || first.Jobs[0].State != proto.StateResolving {
		t.Fatalf("first submit %+v", first)
	}
	id := first.Jobs[0].ID
	// The same recording pasted differently (trailing slash, utm tag) is the same job.
	again := h.submit(`{"url": "` + goodURL + `/?utm_source=mail"}`)
	if again.Jobs[0].ID != id || !again.Jobs[0].Existing {
		t.Fatalf("resubmission made a new job: %+v", again)
	}
	forced := h.submit(`{"url": "` + goodURL + `", "force": true}`)
	if forced.Jobs[0].ID == id || forced.Jobs[0].Existing {
		t.Fatalf("force did not make a new job: %+v", forced)
	}
	other := h.submit(`{"url": "` + goodURL + `", "unit_seconds": 600}`)
	if other.Jobs[0].ID == id {
		t.Fatal("different options returned the same job")
	}
	// Status hides the cookie; the resolve task carries it.
	data, _ := h.request(proto.SubjectStatus, []byte(`{"job": "`+id+`"}`))
	if strings.Contains(string(data), "s3cret") {
		t.Fatal("status shows the session cookie")
	}
	var j proto.Job
	json.Unmarshal(data, &j)
	if j.ID != id || j.State != proto.StateResolving || j.Spec.URL != goodURL {
		t.Fatalf("status %s", data)
	}
	cons := bustest.Consumer(t, h.js, proto.StreamFetch, proto.ConsumerFetchers)
	msgs, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n, cookies := 0, 0
	for m := range msgs.Messages() {
		task, err := bus.Decode[proto.FetchTask](m.Data())
		if err != nil || task.Kind != proto.FetchResolve {
			t.Fatalf("unexpected fetch task %s: %v", m.Data(), err)
		}
		if task.SessionCookie == "s3cret" {
			cookies++
		}
		n++
	}
	if n != 3 || cookies != 1 {
		t.Fatalf("%d resolve tasks (want 3: first, forced, other options), %d with the cookie", n, cookies)
	}
	// List shows all three, newest first.
	data, _ = h.request(proto.SubjectList, nil)
	var list []JobSummary
	if err := json.Unmarshal(data, &list); err != nil || len(list) != 3 {
		t.Fatalf("list %s", data)
	}
	if _, errHdr := h.request(proto.SubjectStatus, []byte(`{"job": "nosuchjob"}`)); !strings.Contains(errHdr, "not found") {
		t.Fatalf("status of an unknown job: %q", errHdr)
	}
}

func TestIntakeWorksWithoutCoordinator(t *testing.T) {
	_, nc, js := bustest.Start(t)
	// Published while no coordinator runs: kept in the intake stream.
	if _, err := js.Publish(context.Background(), proto.SubjectIntake, []byte(`{"url": "`+goodURL+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), proto.SubjectIntake, []byte(`{"url": "https://evil.example/1/2/record-new/3"}`)); err != nil {
		t.Fatal(err)
	}
	rejected := make(chan string, 1)
	sub, _ := nc.Subscribe(proto.EventSubject("intake", "rejected"), func(m *nats.Msg) { rejected <- string(m.Data) })
	defer sub.Unsubscribe()
	store, _ := blob.NewLocal(t.TempDir())
	cfg := DefaultConfig()
	cfg.WorkerID, cfg.WorkDir, cfg.Log = "coord-intake", t.TempDir(), bustest.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, cfg, nc, store, ffmpeg.New(cfg.Log))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case msg := <-rejected:
		if !strings.Contains(msg, "not an MTS Link recording URL") {
			t.Fatalf("rejection event %s", msg)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no rejection event for the bad intake message")
	}
	h := &harness{t: t, nc: nc, js: js, ctx: ctx}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.jobKeys()) != 2 { // the job and its identity key
		if time.Now().After(deadline) {
			t.Fatalf("intake made keys %v", h.jobKeys())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The accepted submission is acknowledged after its job is written.
	for h.pending(proto.StreamIntake) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d intake messages left", h.pending(proto.StreamIntake))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCancelPurgesAndAnnounces(t *testing.T) {
	h := startCoordinator(t)
	id := h.submit(`{"url": "` + goodURL + `"}`).Jobs[0].ID
	announced := make(chan struct{}, 1)
	sub, _ := h.nc.Subscribe(proto.CancelFilter, func(m *nats.Msg) {
		if m.Subject == proto.CancelSubject(id) {
			announced <- struct{}{}
		}
	})
	defer sub.Unsubscribe()
	if n := h.pending(proto.StreamFetch); n != 1 {
		t.Fatalf("%d fetch tasks before cancel", n)
	}
	data, errHdr := h.request(proto.SubjectCancel, []byte(`{"job": "`+id+`"}`))
	var j proto.Job
	if errHdr != "" || json.Unmarshal(data, &j) != nil || j.State != proto.StateCanceled {
		t.Fatalf("cancel: %q %s", errHdr, data)
	}
	select {
	case <-announced:
	case <-time.After(5 * time.Second):
		t.Fatal("cancel was not announced to the workers")
	}
	if n := h.pending(proto.StreamFetch); n != 0 {
		t.Fatalf("%d fetch tasks left after cancel", n)
	}
	if _, errHdr := h.request(proto.SubjectCancel, []byte(`{"job": "`+id+`"}`)); !strings.Contains(errHdr, "already canceled") {
		t.Fatalf("second cancel: %q", errHdr)
	}
	// Retry brings a canceled job back.
	data, errHdr = h.request(proto.SubjectRetry, []byte(`{"job": "`+id+`"}`))
	if json.Unmarshal(data, &j); errHdr != "" || j.State != proto.StateResolving || j.Generation != 1 {
		t.Fatalf("retry: %q %s", errHdr, data)
	}
	if n := h.pending(proto.StreamFetch); n != 1 {
		t.Fatalf("retry published %d fetch tasks, want the resolve", n)
	}
}

// TestNewMakesWorkDir: a work dir that does not exist yet is made at start;
// one that cannot be made refuses the start with the reason, instead of
// failing every finalize later.
func TestNewMakesWorkDir(t *testing.T) {
	_, nc, _ := bustest.Start(t)
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.WorkerID, cfg.Log = "coord-test", bustest.Logger(t)
	cfg.WorkDir = filepath.Join(t.TempDir(), "not", "yet")
	if _, err := New(context.Background(), cfg, nc, store, ffmpeg.New(cfg.Log)); err != nil {
		t.Fatalf("New with a missing work dir: %v", err)
	}
	if fi, err := os.Stat(cfg.WorkDir); err != nil || !fi.IsDir() {
		t.Fatalf("work dir not made: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.WorkDir = filepath.Join(file, "sub")
	if _, err := New(context.Background(), cfg, nc, store, ffmpeg.New(cfg.Log)); err == nil || !strings.Contains(err.Error(), "--work-dir") {
		t.Fatalf("New with an impossible work dir: %v, want a refusal naming --work-dir", err)
	}
}

// A job's priority picks the lane of its tasks: a high-priority submission's
// resolve task waits on the high lane's consumer, a normal one's on the
// normal lane; mtsfarm.api.priority moves the tasks published after it, and
// a cancel purges every lane.
func TestPriorityPicksTheLane(t *testing.T) {
	h := startCoordinator(t)
	lanes, err := bus.LaneConsumers(h.ctx, h.js, proto.StreamFetch, proto.ConsumerFetchers)
	if err != nil {
		t.Fatal(err)
	}
	pendingPerLane := func() []uint64 {
		var n []uint64
		for _, c := range lanes {
			info, err := c.Info(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			n = append(n, info.NumPending)
		}
		return n
	}
	h.submit(`{"url": "` + goodURL + `"}`)
	high := h.submit(`{"url": "https://my.mts-link.ru/1/2/record-new/124/record-file/457", "priority": 5}`).Jobs[0].ID
	if got := pendingPerLane(); !slices.Equal(got, []uint64{1, 1, 0}) {
		t.Fatalf("pending resolve tasks per lane (high, normal, low) = %v, want [1 1 0]", got)
	}
	if _, errHdr := h.request(proto.SubjectPriority, []byte(`{"job": "`+high+`"}`)); !strings.Contains(errHdr, "give the new priority") {
		t.Errorf("priority without a priority: %q", errHdr)
	}
	data, errHdr := h.request(proto.SubjectPriority, []byte(`{"job": "`+high+`", "priority": -1}`))
	var j proto.Job
	if errHdr != "" || json.Unmarshal(data, &j) != nil || j.Spec.Priority != -1 {
		t.Fatalf("priority -1: %q %s", errHdr, data)
	}
	if _, errHdr := h.request(proto.SubjectCancel, []byte(`{"job": "`+high+`"}`)); errHdr != "" {
		t.Fatalf("cancel: %q", errHdr)
	}
	if got := pendingPerLane(); !slices.Equal(got, []uint64{0, 1, 0}) {
		t.Fatalf("after canceling the high job, pending per lane = %v, want [0 1 0]", got)
	}
	// Retried, the job's new resolve task goes to the low lane it has now.
	if _, errHdr := h.request(proto.SubjectRetry, []byte(`{"job": "`+high+`"}`)); errHdr != "" {
		t.Fatalf("retry: %q", errHdr)
	}
	if got := pendingPerLane(); !slices.Equal(got, []uint64{0, 1, 1}) {
		t.Fatalf("after retry at priority -1, pending per lane = %v, want [0 1 1]", got)
	}
}
