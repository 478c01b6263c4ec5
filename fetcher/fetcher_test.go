package fetcher

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// faultScenario has one chunk or slide per fault of the fake server.
const faultScenario = `{
  "name": "Fetcher: every fault", "duration": 6, "org": 1, "event": 2,
  "event_session_id": 501, "record_file_id": 601,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}, {"id": 2, "name": "Student"}],
  "streams": [
    {"kind": "webcam", "participant": 1, "start": 0, "duration": 6, "width": 160, "height": 120,
     "color": "#d02020", "tone_hz": 440, "chunk_seconds": 2},
    {"kind": "webcam", "participant": 2, "start": 0, "duration": 2, "width": 160, "height": 120,
     "color": "#20d020", "tone_hz": 660},
    {"kind": "webcam", "participant": 2, "start": 2, "duration": 2, "width": 160, "height": 120,
     "color": "#2020d0", "tone_hz": 880},
    {"kind": "audio", "participant": 2, "start": 4, "duration": 2, "tone_hz": 1000}
  ],
  "slides": [{"at": 1, "color": "#e0e020"}, {"at": 3, "color": "#c020c0"}],
  "faults": [
    {"stream": 0, "chunk": 0, "kind": "corrupt_once"},
    {"stream": 0, "chunk": 1, "kind": "http_500_once"},
    {"stream": 0, "chunk": 2, "kind": "slow", "bytes_per_second": 4000},
    {"stream": 1, "chunk": 0, "kind": "audio_only_direct"},
    {"stream": 2, "chunk": 0, "kind": "missing"},
    {"slide": 1, "kind": "reset_once"}
  ]
}`

func TestFetchFaults(t *testing.T) {
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) { testFetchFaults(t, store) })
	}
}

func testFetchFaults(t *testing.T, store string) {
	e := newEnv(t, faultScenario, store)
	f := e.start(e.config("fetcher-1"))
	const job = "job-faults"
	chunks := e.fake.Chunks(0)
	if len(chunks) != 6 {
		t.Fatalf("scenario has %d chunks, want 6", len(chunks))
	}
	var slides []mtstest.SlideInfo
	for _, s := range e.fake.Slides(0) {
		if !s.End {
			slides = append(slides, s)
		}
	}
	e.publish(proto.FetchTask{Job: job, Kind: proto.FetchResolve, URL: e.fake.RecordingURL(0), Key: proto.FlowKey(job)})
	for i, c := range chunks {
		e.publish(mediaTask(job, i, c))
	}
	for i, s := range slides {
		e.publish(slideTask(job, i, s))
	}
	all := e.waitResults(job, 1+len(chunks)+len(slides), 90*time.Second)
	media, slideRes := byIndex(all, proto.FetchMedia), byIndex(all, proto.FetchSlide)
	for i, rs := range media {
		if len(rs) != 1 {
			t.Errorf("chunk %d has %d results, want exactly 1: %+v", i, len(rs), rs)
		}
	}

	// resolve: the flow as served, with its title and duration.
	res := byIndex(all, proto.FetchResolve)[0][0]
	if res.Status != proto.FetchStored || res.Title != "Fetcher: every fault" || res.Duration != 6 || res.Key != proto.FlowKey(job) {
		t.Errorf("resolve result = %+v", res)
	}
	rc, _, err := e.store.Get(context.Background(), proto.FlowKey(job))
	if err != nil {
		t.Fatal(err)
	}
	flow := readAll(t, rc)
	if string(flow) != string(e.fake.Flow(0, true)) {
		t.Errorf("stored flow differs from the served one (withoutCuts=true)")
	}

	hits := func(i int) int { return e.fake.Hits(chunks[i].Path) }
	stored := func(i int, source string, video, audio bool) {
		t.Helper()
		r := media[i][0]
		if r.Status != proto.FetchStored || r.Media == nil || r.Key != proto.MediaKey(chunks[i].URL, "mp4") || r.Worker != "fetcher-1" {
			t.Fatalf("chunk %d (%v): result %+v", i, chunks[i].Faults, r)
		}
		side, probed := e.storedInfo(r.Key)
		if side != *r.Media || side.Source != source || side.Validate() != nil {
			t.Errorf("chunk %d: sidecar %+v, result %+v, want source %s", i, side, *r.Media, source)
		}
		if probed.HasVideo != video || probed.HasAudio != audio || probed.Size != side.Size || probed.Duration < 1.5 {
			t.Errorf("chunk %d: stored object %+v, want video=%v audio=%v, size %d", i, probed, video, audio, side.Size)
		}
		if n := e.store.Puts(r.Key); n != 1 {
			t.Errorf("chunk %d stored %d times, want 1", i, n)
		}
	}
	// corrupt_once: fetched again, then stored.
	stored(0, sourceDirect, true, true)
	if hits(0) != 2 || media[0][0].Attempts != 2 {
		t.Errorf("corrupt_once: %d requests, %d attempts; want 2 and 2", hits(0), media[0][0].Attempts)
	}
	// http_500_once: retried.
	stored(1, sourceDirect, true, true)
	if hits(1) != 2 {
		t.Errorf("http_500_once: %d requests, want 2", hits(1))
	}
	// slow: one request, several seconds, kept by heartbeats (the ack wait
	// is shorter than the download).
	stored(2, sourceDirect, true, true)
	if hits(2) != 1 {
		t.Errorf("slow: %d requests, want 1 (no redelivery)", hits(2))
	}
	var progress []proto.Event
	for _, ev := range e.events(job) {
		if ev.Kind == proto.EventProgress && ev.Task == "fetch" && ev.Index == 2 {
			progress = append(progress, ev)
		}
	}
	if len(progress) < 2 {
		t.Errorf("slow chunk: %d progress events, want at least 2", len(progress))
	}
	for i := 1; i < len(progress); i++ {
		if gap := progress[i].Time.Sub(progress[i-1].Time); gap < 900*time.Millisecond {
			t.Errorf("progress events %s apart, want at most one a second", gap)
		}
		if p := progress[i].Progress; p == nil || p.BytesDone <= progress[i-1].Progress.BytesDone || p.BytesTotal <= 0 {
			t.Errorf("progress event %d: %+v", i, p)
		}
	}
	if el := media[2][0].Elapsed; el < float64(testAckWait/time.Second) {
		t.Errorf("slow chunk took %.1fs, shorter than the ack wait: the test proves nothing", el)
	}
	// audio_only_direct: the HLS variant, with video and audio.
	stored(3, sourceHLS, true, true)
	// missing: a failed result that says so, and no retries.
	if r := media[4][0]; r.Status != proto.FetchFailed || !strings.Contains(r.Error, "does not exist") || hits(4) != 1 {
		t.Errorf("missing: result %+v after %d requests", r, hits(4))
	}
	// a chunk that is audio-only everywhere stays the direct file.
	stored(5, sourceDirect, false, true)
	if n := e.fake.Hits(strings.TrimPrefix(chunks[5].HLSURL, e.fake.URL)); n != 1 {
		t.Errorf("audio chunk: playlist requested %d times, want 1", n)
	}
	for i, s := range slides {
		r := slideRes[i][0]
		if r.Status != proto.FetchStored || r.Bytes <= 0 {
			t.Errorf("slide %d (%v): %+v", i, s.Faults, r)
		}
	}
	var resumed bool
	for _, r := range e.fake.Requests() {
		resumed = resumed || r.Path == slides[1].Path && strings.HasPrefix(r.Range, "bytes=")
	}
	if !resumed {
		t.Errorf("reset_once slide: no Range request after the drop")
	}
	if entries, err := os.ReadDir(filepath.Join(e.workDir, "fetcher-1")); err != nil || len(entries) != 0 {
		t.Errorf("temp dir after the job: %v %v", entries, err)
	}

	// A second job for the same recording: every stored object is cached,
	// and MTS sees no media request at all.
	e.fake.ResetLog()
	const job2 = "job-again"
	want := 0
	for i, c := range chunks {
		if media[i][0].Status == proto.FetchStored {
			e.publish(mediaTask(job2, i, c))
			want++
		}
	}
	for i, s := range slides {
		e.publish(slideTask(job2, i, s))
		want++
	}
	for _, r := range e.waitResults(job2, want, 30*time.Second) {
		if r.Status != proto.FetchStored || !r.Cached {
			t.Errorf("second job: %s %d not served from the store: %+v", r.Kind, r.Index, r)
		}
		if r.Kind == proto.FetchMedia && (r.Media == nil || r.Media.Validate() != nil) {
			t.Errorf("second job: cached chunk %d without probe data", r.Index)
		}
	}
	if n := mediaHits(e.fake.Requests()); n != 0 {
		t.Errorf("second job made %d media requests, want 0: %+v", n, e.fake.Requests())
	}
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.workDir, "fetcher-1")); !os.IsNotExist(err) {
		t.Errorf("work dir still there after Run returned: %v", err)
	}
}

func readAll(t *testing.T, rc interface {
	Read([]byte) (int, error)
	Close() error
}) []byte {
	t.Helper()
	defer rc.Close()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return b
		}
	}
}
