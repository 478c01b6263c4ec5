package fetcher

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go/jetstream"
)

const privateScenario = `{
  "name": "Closed seminar", "duration": 4, "org": 1, "event": 2,
  "event_session_id": 701, "record_file_id": 801, "private": true,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}],
  "streams": [{"kind": "webcam", "participant": 1, "start": 0, "width": 160, "height": 120, "color": "#d02020", "tone_hz": 440}]
}`

func TestResolvePrivateRecording(t *testing.T) {
	e := newEnv(t, privateScenario, "local")
	e.start(e.config("fetcher-1"))
	e.publish(proto.FetchTask{Job: "job-nocookie", Kind: proto.FetchResolve, URL: e.fake.RecordingURL(0), Key: proto.FlowKey("job-nocookie")})
	r := e.waitResults("job-nocookie", 1, 30*time.Second)[0]
	if r.Status != proto.FetchFailed || !strings.Contains(r.Error, "access denied") || !strings.Contains(r.Error, "sessionId cookie") {
		t.Fatalf("without a cookie: %+v", r)
	}
	if ok, _ := e.store.Exists(context.Background(), proto.FlowKey("job-nocookie")); ok {
		t.Error("a flow was stored for a refused request")
	}
	// Terminated, not redelivered: no second result and no second request.
	if extra := e.drainResults(testAckWait); len(extra) != 0 {
		t.Errorf("results after the failure: %+v", extra)
	}
	if n := len(e.fake.Requests()); n != 1 {
		t.Errorf("%d flow requests, want 1 (a 403 is not retried)", n)
	}
	assertNoPending(t, e.js)

	e.publish(proto.FetchTask{Job: "job-cookie", Kind: proto.FetchResolve, URL: e.fake.RecordingURL(0),
		Key: proto.FlowKey("job-cookie"), SessionCookie: mtstest.DefaultSessionCookie})
	r = e.waitResults("job-cookie", 1, 30*time.Second)[0]
	if r.Status != proto.FetchStored || r.Title != "Closed seminar" || r.Duration != 4 {
		t.Fatalf("with the cookie: %+v", r)
	}
}

func assertNoPending(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	c, err := js.Consumer(context.Background(), proto.StreamFetch, proto.ConsumerFetchers)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("fetch consumer: %d pending, %d unacked, %d redelivered; want none", info.NumPending, info.NumAckPending, info.NumRedelivered)
	}
}

const oneChunkScenario = `{
  "name": "One chunk", "duration": 4, "org": 1, "event": 2, "event_session_id": 901, "record_file_id": 902,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}],
  "streams": [{"kind": "webcam", "participant": 1, "start": 0, "width": 160, "height": 120, "color": "#d02020", "tone_hz": 440}]
}`

// TestRefusesDisallowedHosts: tasks naming a host that is not allowed fail
// with an error that says what to do, and no request reaches that host.
func TestRefusesDisallowedHosts(t *testing.T) {
	e := newEnv(t, oneChunkScenario, "local")
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		http.ServeFile(w, r, "/etc/hostname")
	}))
	defer foreign.Close()
	e.start(e.config("fetcher-1"))
	const job = "job-hosts"
	tasks := []proto.FetchTask{
		{Job: job, Kind: proto.FetchMedia, Index: 0, URL: foreign.URL + "/x.mp4", Key: proto.MediaKey(foreign.URL+"/x.mp4", "mp4")},
		{Job: job, Kind: proto.FetchSlide, Index: 1, URL: foreign.URL + "/s.jpg", Key: proto.SlideKey(foreign.URL+"/s.jpg", "jpg")},
		{Job: job, Kind: proto.FetchMedia, Index: 2, URL: "http://169.254.169.254/latest/meta-data/x.mp4", Key: proto.MediaKey("m", "mp4")},
		{Job: job, Kind: proto.FetchMedia, Index: 3, URL: "https://events-storage.webinar.ru.evil.example/x.mp4", Key: proto.MediaKey("e", "mp4")},
		{Job: job, Kind: proto.FetchResolve, Index: 4, URL: foreign.URL + "/1/2/record-new/3/record-file/4", Key: proto.FlowKey(job)},
	}
	for _, task := range tasks {
		e.publish(task)
	}
	// A task with a file: URL does not even validate: it is terminated and
	// still reported to its job.
	raw := `{"type":"mtsfarm.v1.fetch_task","job":"` + job + `","kind":"media","index":5,"url":"file:///etc/passwd","key":"media/x.mp4"}`
	if _, err := e.js.Publish(context.Background(), proto.FetchSubject(job), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	results := e.waitResults(job, len(tasks)+1, 30*time.Second)
	for _, r := range results {
		if r.Status != proto.FetchFailed {
			t.Errorf("%s %d: %+v, want failed", r.Kind, r.Index, r)
			continue
		}
		var want string
		switch r.Index {
		case 0, 1, 2:
			want = "--allow-host"
		case 3:
			want = "not an MTS Link host"
		case 4:
			want = "not an MTS Link recording URL"
		case 5:
			want = "not http(s)"
		}
		if !strings.Contains(r.Error, want) {
			t.Errorf("%s %d: error %q does not say %q", r.Kind, r.Index, r.Error, want)
		}
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("the foreign host got %d requests, want 0", n)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Errorf("the fake MTS got %d requests, want 0", n)
	}
	time.Sleep(testAckWait)
	assertNoPending(t, e.js)
}

const slowScenario = `{
  "name": "Slow chunk", "duration": 8, "org": 1, "event": 2, "event_session_id": 911, "record_file_id": 912,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}],
  "streams": [{"kind": "webcam", "participant": 1, "start": 0, "width": 320, "height": 240, "color": "#d02020", "tone_hz": 440}],
  "faults": [{"stream": 0, "chunk": 0, "kind": "slow", "bytes_per_second": 24000}]
}`

// TestKilledMidDownload cancels a fetcher's Run while it downloads: the
// task goes back at once, a second fetcher takes it, and the file is stored
// complete, once, with one result.
func TestKilledMidDownload(t *testing.T) {
	e := newEnv(t, slowScenario, "local")
	chunk := e.fake.Chunks(0)[0]
	const job = "job-kill"
	task := mediaTask(job, 0, chunk)
	cfgA := e.config("fetcher-a")
	cfgA.ProgressEvery = 200 * time.Millisecond
	a := e.start(cfgA)
	e.publish(task)
	// Wait until A is visibly downloading.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var seen bool
		for _, ev := range e.events(job) {
			seen = seen || ev.Kind == proto.EventProgress && ev.Worker == "fetcher-a" && ev.Progress.BytesDone > 0
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fetcher-a never reported progress")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("stopping fetcher-a: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.workDir, "fetcher-a")); !os.IsNotExist(err) {
		t.Errorf("fetcher-a left its temp dir behind: %v", err)
	}
	if n := e.store.Puts(task.Key); n != 0 {
		t.Fatalf("fetcher-a stored the object %d times before it was killed", n)
	}
	e.start(e.config("fetcher-b"))
	results := e.waitResults(job, 1, 60*time.Second)
	if extra := e.drainResults(testAckWait); len(extra) != 0 {
		results = append(results, extra...)
	}
	if len(results) != 1 || results[0].Status != proto.FetchStored || results[0].Worker != "fetcher-b" {
		t.Fatalf("results = %+v, want one stored by fetcher-b", results)
	}
	if n := e.store.Puts(task.Key); n != 1 {
		t.Errorf("object stored %d times, want 1", n)
	}
	// The stored bytes are the served file, complete.
	resp, err := http.Get(chunk.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := sha(t, resp.Body)
	rc, _, err := e.store.Get(context.Background(), task.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha(t, rc); got != want {
		t.Errorf("stored object differs from the served file")
	}
	var aborted, complete int
	for _, r := range e.fake.Requests() {
		if r.Path == chunk.Path {
			if r.Aborted || r.Bytes < results[0].Bytes {
				aborted++
			} else {
				complete++
			}
		}
	}
	if aborted < 1 || complete < 2 { // A's cut download, B's, and ours
		t.Errorf("requests for the chunk: %d cut, %d complete", aborted, complete)
	}
	assertNoPending(t, e.js)
}

func sha(t *testing.T, rc io.ReadCloser) [32]byte {
	t.Helper()
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

const corruptScenario = `{
  "name": "Corrupt everywhere", "duration": 2, "org": 1, "event": 2, "event_session_id": 921, "record_file_id": 922,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}, {"id": 2, "name": "Student"}],
  "streams": [
    {"kind": "webcam", "participant": 1, "start": 0, "width": 160, "height": 120, "color": "#d02020", "tone_hz": 440, "hls": false},
    {"kind": "webcam", "participant": 2, "start": 0, "width": 160, "height": 120, "color": "#20d020", "tone_hz": 660}
  ],
  "faults": [{"stream": 0, "chunk": 0, "kind": "corrupt_once", "times": 10},
             {"stream": 1, "chunk": 0, "kind": "corrupt_once", "times": 10}]
}`

// TestCorruptAfterEveryAttempt: a chunk that arrives corrupt three times is
// reported invalid (the job goes on without it), unless its HLS variant is
// good, which is then stored instead.
func TestCorruptAfterEveryAttempt(t *testing.T) {
	e := newEnv(t, corruptScenario, "local")
	e.start(e.config("fetcher-1"))
	const job = "job-corrupt"
	chunks := e.fake.Chunks(0)
	for i, c := range chunks {
		e.publish(mediaTask(job, i, c))
	}
	media := byIndex(e.waitResults(job, 2, 60*time.Second), proto.FetchMedia)
	r := media[0][0]
	if r.Status != proto.FetchInvalid || r.Attempts != 3 || !strings.Contains(r.Error, "undecodable after 3 downloads") {
		t.Errorf("no HLS: %+v, want invalid after 3 attempts", r)
	}
	if n := e.fake.Hits(chunks[0].Path); n != 3 {
		t.Errorf("no HLS: %d downloads, want 3", n)
	}
	if ok, _ := e.store.Exists(context.Background(), proto.MediaKey(chunks[0].URL, "mp4")); ok {
		t.Error("an invalid chunk was stored")
	}
	r = media[1][0]
	if r.Status != proto.FetchStored || r.Media == nil || r.Media.Source != sourceHLS || !r.Media.HasVideo || !r.Media.HasAudio {
		t.Errorf("with HLS: %+v, want stored from HLS", r)
	}
	time.Sleep(testAckWait)
	assertNoPending(t, e.js)
}

// TestPresence: a running fetcher is listed in the workers bucket with its
// role and slots, and removed when it stops.
func TestPresence(t *testing.T) {
	e := newEnv(t, oneChunkScenario, "local")
	cfg := e.config("fetcher-p")
	cfg.Slots = 3
	f := e.start(cfg)
	kv, err := e.js.KeyValue(context.Background(), proto.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	var entry jetstream.KeyValueEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if entry, err = kv.Get(context.Background(), "fetcher-p"); err == nil {
			break
		}
	}
	if entry == nil {
		t.Fatalf("no presence entry: %v", err)
	}
	if s := string(entry.Value()); !strings.Contains(s, `"roles":["fetcher"]`) || !strings.Contains(s, `"slots":3`) {
		t.Errorf("presence entry %s", s)
	}
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), "fetcher-p"); err == nil {
		t.Error("presence entry still there after the fetcher stopped")
	}
}

// TestJobCanceledMidDownload: a cancel announcement stops the job's running
// download at once; the task is dropped (terminated, no result, nothing
// stored) and later tasks of the job are dropped too.
func TestJobCanceledMidDownload(t *testing.T) {
	e := newEnv(t, slowScenario, "local")
	chunk := e.fake.Chunks(0)[0]
	const job = "job-cancel"
	cfg := e.config("fetcher-1")
	cfg.ProgressEvery = 200 * time.Millisecond
	e.start(cfg)
	e.publish(mediaTask(job, 0, chunk))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var seen bool
		for _, ev := range e.events(job) {
			seen = seen || ev.Kind == proto.EventProgress && ev.Progress.BytesDone > 0
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
	}
	if err := e.js.Conn().Publish(proto.CancelSubject(job), nil); err != nil {
		t.Fatal(err)
	}
	canceledAt := time.Now()
	for time.Since(canceledAt) < 10*time.Second {
		if entries, _ := os.ReadDir(filepath.Join(e.workDir, "fetcher-1")); len(entries) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if el := time.Since(canceledAt); el > 3*time.Second {
		t.Errorf("the download went on for %s after the cancel", el)
	}
	e.publish(proto.FetchTask{Job: job, Kind: proto.FetchSlide, Index: 1, URL: chunk.URL, Key: proto.SlideKey(chunk.URL, "jpg")})
	if res := e.drainResults(testAckWait); len(res) != 0 {
		t.Errorf("results of a canceled job: %+v", res)
	}
	if n := e.store.Puts(proto.MediaKey(chunk.URL, "mp4")); n != 0 {
		t.Errorf("canceled chunk stored %d times", n)
	}
	assertNoPending(t, e.js)
}
