package renderer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/blob/miniotest"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// farm is a real embedded NATS with the topology and an object store.
type farm struct {
	t       *testing.T
	nc      *nats.Conn
	js      jetstream.JetStream
	store   blob.Store
	results jetstream.Consumer

	mu     sync.Mutex
	events []proto.Event
}

func newFarm(t *testing.T, store blob.Store) *farm {
	t.Helper()
	_, nc, js := bustest.Start(t)
	f := &farm{t: t, nc: nc, js: js, store: store,
		results: bustest.Consumer(t, js, proto.StreamResults, proto.ConsumerResults)}
	sub, err := nc.Subscribe("mtsfarm.events.>", func(m *nats.Msg) {
		var e proto.Event
		if json.Unmarshal(m.Data, &e) == nil {
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

func localStore(t *testing.T) blob.Store {
	t.Helper()
	s, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func s3Store(t *testing.T) blob.Store {
	t.Helper()
	cfg := miniotest.Start(t).NewBucket(t)
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put stores a local file under key.
func (f *farm) put(key, path string) {
	f.t.Helper()
	if _, err := f.store.PutFile(context.Background(), key, path, blob.PutOptions{}); err != nil {
		f.t.Fatalf("storing %s: %v", key, err)
	}
}

// start runs a renderer with cfg (defaults for tests) until t ends.
func (f *farm) start(t *testing.T, id string, edit func(*Config), store blob.Store) *Worker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.WorkerID = id
	cfg.WorkDir = t.TempDir()
	cfg.ProgressEvery = 100 * time.Millisecond
	cfg.PresenceEvery = 200 * time.Millisecond
	cfg.PollWait = 500 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	r := needFFmpeg(t)
	r.Grace = time.Second
	if store == nil {
		store = f.store
	}
	w, err := New(cfg, Deps{JS: f.js, Store: store, FFmpeg: r, Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker %s: %v", id, err)
		}
		if entries, err := os.ReadDir(cfg.WorkDir); err != nil || len(entries) != 0 {
			t.Errorf("worker %s left temp files: %v %v", id, entries, err)
		}
	})
	return w
}

func (f *farm) publish(u proto.RenderUnit) {
	f.t.Helper()
	err := bus.Publish(context.Background(), f.js, proto.RenderSubject(u.Job), u, proto.MsgID(u.Job, "render", u.Index, u.Generation))
	if err != nil {
		f.t.Fatal(err)
	}
}

// result waits for the next unit result; ok is false after timeout.
func (f *farm) result(timeout time.Duration) (proto.UnitResult, bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		batch, err := f.results.Fetch(1, jetstream.FetchMaxWait(min(time.Until(deadline), time.Second)))
		if err != nil {
			f.t.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Ack()
			r, err := bus.Decode[proto.UnitResult](m.Data())
			if err != nil {
				f.t.Fatalf("a result that does not decode: %v", err)
			}
			return r, true
		}
	}
	return proto.UnitResult{}, false
}

func (f *farm) eventsOf(kind string) []proto.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []proto.Event
	for _, e := range f.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// pendingUnits is how many units the render stream holds.
func (f *farm) pendingUnits() uint64 {
	f.t.Helper()
	return bustest.StreamMsgs(f.t, f.js, proto.StreamRender)
}

// presenterUnit is a 3-second presenter unit of red (pip) over yellow.
func presenterUnit(m testMedia, job string) proto.RenderUnit {
	u := testUnit(640, 360, 3, []proto.UnitSource{
		src("yellow", proto.SourceScreenshare, m.yellow, 0, 0, 3),
		src("red", proto.SourceWebcam, m.red, 0, 0, 3),
	}, proto.UnitWindow{Start: 0, End: 3, Layout: proto.LayoutPresenter, Main: "yellow", Pip: "red", Audio: []string{"red", "yellow"}})
	u.Job, u.Index, u.Generation = job, 2, 1
	u.Sources[0].Key, u.Sources[1].Key = "media/yellow.mp4", "media/red.mp4"
	u.VideoKey, u.AudioKey = proto.UnitVideoKey(job, 2, 1), proto.UnitAudioKey(job, 2, 1)
	return u
}

// The whole path, with the local store (direct file paths) and with MinIO
// (presigned URLs): unit in, files stored, result out, progress events,
// presence.
func TestWorkerRendersUnit(t *testing.T) {
	m := media(t)
	for name, store := range map[string]func(*testing.T) blob.Store{"local": localStore, "s3": s3Store} {
		t.Run(name, func(t *testing.T) {
			f := newFarm(t, store(t))
			f.put("media/yellow.mp4", m.yellow.path)
			f.put("media/red.mp4", m.red.path)
			f.start(t, "renderer-a", nil, nil)
			u := presenterUnit(m, "j1")
			f.publish(u)
			res, ok := f.result(60 * time.Second)
			if !ok {
				t.Fatal("no unit result")
			}
			if res.Status != proto.UnitDone || res.Worker != "renderer-a" || res.Encoder != EncoderX264 ||
				res.Index != 2 || res.Generation != 1 || res.VideoKey != u.VideoKey || res.AudioKey != u.AudioKey {
				t.Fatalf("result %+v", res)
			}
			if res.Duration < 2.95 || res.Duration > 3.05 || res.Elapsed <= 0 {
				t.Errorf("result duration %g elapsed %g", res.Duration, res.Elapsed)
			}
			dir := t.TempDir()
			video, audio := filepath.Join(dir, "u.ts"), filepath.Join(dir, "u.flac")
			for key, path := range map[string]string{u.VideoKey: video, u.AudioKey: audio} {
				if _, err := f.store.GetFile(context.Background(), key, path); err != nil {
					t.Fatalf("fetching %s: %v", key, err)
				}
			}
			if n := frameCount(t, video); n != 75 {
				t.Errorf("stored video has %d frames, want 75", n)
			}
			if n := sampleCount(t, audio, 48000); n != 3*48000 {
				t.Errorf("stored audio has %d samples, want %d", n, 3*48000)
			}
			img := decodeFrames(t, video, 640, 360, 40)[0]
			if got := regionColor(img, 640, u.Windows[0].Rects(640, 360)[1]); !nearColor(got, m.red.rgb) {
				t.Errorf("pip is %v, want red", got)
			}
			bustest.WaitFor(t, 5*time.Second, "a progress event", func() bool {
				for _, e := range f.eventsOf(proto.EventProgress) {
					if e.Job == "j1" && e.Index == 2 && e.Task == "render" && e.Worker == "renderer-a" &&
						e.Progress != nil && e.Progress.RenderedSeconds > 0 {
						return true
					}
				}
				return false
			})
			kv, err := f.js.KeyValue(context.Background(), proto.BucketWorkers)
			if err != nil {
				t.Fatal(err)
			}
			entry, err := kv.Get(context.Background(), "renderer-a")
			if err != nil {
				t.Fatalf("presence entry: %v", err)
			}
			var info proto.WorkerInfo
			if err := json.Unmarshal(entry.Value(), &info); err != nil {
				t.Fatal(err)
			}
			if len(info.Roles) != 1 || info.Roles[0] != proto.RoleRenderer || !strings.Contains(strings.Join(info.Encoders, ","), EncoderX264) {
				t.Errorf("presence %+v, want role renderer with libx264", info)
			}
		})
	}
}

// A worker named in ExcludeWorkers hands the unit back; another renders it.
func TestWorkerExcluded(t *testing.T) {
	m := media(t)
	f := newFarm(t, localStore(t))
	f.put("media/yellow.mp4", m.yellow.path)
	f.put("media/red.mp4", m.red.path)
	f.start(t, "renderer-a", nil, nil)
	u := presenterUnit(m, "j2")
	u.ExcludeWorkers = []string{"renderer-a"}
	f.publish(u)
	if res, ok := f.result(2 * time.Second); ok {
		t.Fatalf("an excluded worker published %+v", res)
	}
	if n := f.pendingUnits(); n != 1 {
		t.Fatalf("render stream holds %d units, want the unit handed back", n)
	}
	f.start(t, "renderer-b", nil, nil)
	res, ok := f.result(60 * time.Second)
	if !ok || res.Status != proto.UnitDone || res.Worker != "renderer-b" {
		t.Fatalf("result %+v (ok %v), want done by renderer-b", res, ok)
	}
}

// Inputs that differ from what the unit says (no audio track, not media at
// all) are probed after the failed render and rendered absent/silent, with
// warnings; an input missing from the store fails the unit with a message
// that says so.
func TestWorkerRepairsInputsAndReportsFailures(t *testing.T) {
	m := media(t)
	f := newFarm(t, localStore(t))
	junk := filepath.Join(t.TempDir(), "junk.mp4")
	if err := os.WriteFile(junk, []byte("this is not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.put("media/red.mp4", m.red.path)
	f.put("media/blue.mp4", m.blue.path)
	f.put("media/junk.mp4", junk)
	f.start(t, "renderer-a", nil, nil)

	u := testUnit(640, 360, 2, []proto.UnitSource{
		src("red", proto.SourceWebcam, m.red, 0, 0, 2),
		src("blue", proto.SourceWebcam, m.blue, 0, 0, 2),
		src("junk", proto.SourceWebcam, m.red, 0, 0, 2),
	}, proto.UnitWindow{Start: 0, End: 2, Layout: proto.LayoutGrid, Grid: []string{"red", "blue", "junk"},
		Audio: []string{"red", "blue", "junk"}})
	u.Job = "j3"
	u.Sources[0].Key, u.Sources[1].Key, u.Sources[2].Key = "media/red.mp4", "media/blue.mp4", "media/junk.mp4"
	u.Sources[1].HasAudio = true // it has none
	u.VideoKey, u.AudioKey = proto.UnitVideoKey("j3", 0, 0), proto.UnitAudioKey("j3", 0, 0)
	f.publish(u)
	res, ok := f.result(60 * time.Second)
	if !ok || res.Status != proto.UnitDone {
		t.Fatalf("result %+v (ok %v), want done", res, ok)
	}
	bustest.WaitFor(t, 5*time.Second, "warnings about blue and junk", func() bool {
		var text string
		for _, e := range f.eventsOf(proto.EventWarning) {
			text += e.Message + "\n"
		}
		return strings.Contains(text, "blue (media/blue.mp4) has no audio track") &&
			strings.Contains(text, "junk (media/junk.mp4) cannot be read")
	})

	missing := presenterUnit(m, "j4")
	missing.Sources[0].Key = "media/never-stored.mp4"
	f.publish(missing)
	res, ok = f.result(30 * time.Second)
	if !ok || res.Status != proto.UnitFailed || !strings.Contains(res.Error, "media/never-stored.mp4) is not in the object store") {
		t.Fatalf("result %+v (ok %v), want failed naming the missing input", res, ok)
	}
	bustest.WaitFor(t, 5*time.Second, "the failed unit to be terminated", func() bool { return f.pendingUnits() == 0 })

	badPreset := presenterUnit(m, "j5")
	badPreset.Encoding.Preset = "warp"
	f.put("media/yellow.mp4", m.yellow.path)
	f.publish(badPreset)
	res, ok = f.result(30 * time.Second)
	if !ok || res.Status != proto.UnitFailed || !strings.Contains(res.Error, `preset "warp"`) {
		t.Fatalf("result %+v (ok %v), want failed naming the preset", res, ok)
	}
}

// hangingStore serves "media/hang.mp4" from an HTTP server that sends part
// of the file and then nothing (a stalled network), the rest from the real
// store.
type hangingStore struct {
	blob.Store
	url string
}

func (s hangingStore) ReadURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if key == "media/hang.mp4" {
		return s.url, nil
	}
	return s.Store.ReadURL(ctx, key, expiry)
}

// hangServer serves path's first third and then stalls until the client
// goes away; it counts requests and notes when a client left.
type hangServer struct {
	requests atomic.Int64
	left     chan time.Time
}

func newHangServer(t *testing.T, path string) (*hangServer, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &hangServer{left: make(chan time.Time, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data[:len(data)/3])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		h.left <- time.Now()
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL + "/hang.mp4"
}

// A render whose input stops arriving is killed after the stall timeout and
// handed back (no result); a canceled job's render is killed within seconds
// and its unit dropped.
func TestWorkerStallAndCancel(t *testing.T) {
	m := media(t)
	slow := filepath.Join(t.TempDir(), "slow.mp4")
	// moov first, so ffmpeg starts decoding from the part it gets.
	run(t, "ffmpeg", "-v", "error", "-i", m.red.path, "-c", "copy", "-movflags", "+faststart", slow)
	hang, url := newHangServer(t, slow)
	base := localStore(t)
	f := newFarm(t, base)
	store := hangingStore{Store: base, url: url}

	unit := func(job string) proto.RenderUnit {
		u := testUnit(640, 360, 6, []proto.UnitSource{src("hang", proto.SourceWebcam, m.red, 0, 0, 6)},
			proto.UnitWindow{Start: 0, End: 6, Layout: proto.LayoutSingle, Main: "hang", Audio: []string{"hang"}})
		u.Job = job
		u.Sources[0].Key = "media/hang.mp4"
		u.VideoKey, u.AudioKey = proto.UnitVideoKey(job, 0, 0), proto.UnitAudioKey(job, 0, 0)
		return u
	}

	t.Run("stall", func(t *testing.T) {
		f.start(t, "renderer-stall", func(c *Config) { c.StallTimeout = 1500 * time.Millisecond }, store)
		f.publish(unit("j6"))
		bustest.WaitFor(t, 20*time.Second, "a stall reported", func() bool {
			for _, e := range f.eventsOf(proto.EventError) {
				if e.Job == "j6" && strings.Contains(e.Message, "no progress for the stall timeout") {
					return true
				}
			}
			return false
		})
		if res, ok := f.result(time.Second); ok {
			t.Fatalf("a stalled unit published %+v; want it handed back without a result", res)
		}
		if n := f.pendingUnits(); n != 1 {
			t.Fatalf("render stream holds %d units, want the stalled one handed back", n)
		}
	})
	// Purge the handed-back unit so the next worker sees only its own.
	s, err := f.js.Stream(context.Background(), proto.StreamRender)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}

	t.Run("cancel", func(t *testing.T) {
		f.start(t, "renderer-cancel", func(c *Config) { c.StallTimeout = time.Minute }, store)
		before := hang.requests.Load()
		f.publish(unit("j7"))
		bustest.WaitFor(t, 20*time.Second, "ffmpeg to read the input", func() bool { return hang.requests.Load() > before })
		time.Sleep(300 * time.Millisecond)
		for len(hang.left) > 0 {
			<-hang.left
		}
		canceled := time.Now()
		if err := f.nc.Publish(proto.CancelSubject("j7"), nil); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-hang.left:
			if d := at.Sub(canceled); d > 3*time.Second {
				t.Errorf("ffmpeg kept reading %s after the cancel", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ffmpeg still reading 10s after the cancel")
		}
		bustest.WaitFor(t, 5*time.Second, "the canceled unit to be dropped", func() bool { return f.pendingUnits() == 0 })
		if res, ok := f.result(500 * time.Millisecond); ok {
			t.Fatalf("a canceled unit published %+v", res)
		}
		// A unit of the canceled job that arrives later is dropped at once.
		u := unit("j7")
		u.Index, u.VideoKey, u.AudioKey = 1, proto.UnitVideoKey("j7", 1, 0), proto.UnitAudioKey("j7", 1, 0)
		f.publish(u)
		bustest.WaitFor(t, 10*time.Second, "the late unit to be dropped", func() bool { return f.pendingUnits() == 0 })
	})
}

// attempts: the ways to render, by capability, configuration and unit.
func TestAttempts(t *testing.T) {
	x264 := attempt{EncoderX264, false}
	nv := attempt{EncoderNVENC, false}
	cuda := attempt{EncoderNVENC, true}
	cases := []struct {
		name     string
		nvenc    bool
		cudaOK   bool
		cfgEnc   string
		allowCUD bool
		unitEnc  string
		cooling  bool
		want     []attempt
		handBack bool
	}{
		{"cpu only", false, false, EncoderAuto, true, "", false, []attempt{x264}, false},
		{"gpu with cuda", true, true, EncoderAuto, true, "", false, []attempt{cuda, nv, x264}, false},
		{"gpu, cuda disabled", true, true, EncoderAuto, false, "", false, []attempt{nv, x264}, false},
		{"gpu without cuda filters", true, false, EncoderAuto, true, "", false, []attempt{nv, x264}, false},
		{"gpu cooling down after OOM", true, true, EncoderAuto, true, "", true, []attempt{x264}, false},
		{"worker forced to libx264", true, true, EncoderX264, true, "", false, []attempt{x264}, false},
		{"unit forces libx264", true, true, EncoderAuto, true, EncoderX264, false, []attempt{x264}, false},
		{"unit forces nvenc on a cpu worker", false, false, EncoderAuto, true, EncoderNVENC, false, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &Worker{cfg: Config{WorkerID: "w", Encoder: c.cfgEnc, CUDA: c.allowCUD}}
			w.caps.Encoders = []string{EncoderX264}
			w.caps.NVENC, w.caps.CUDAFilters = c.nvenc, c.cudaOK
			if c.cooling {
				w.cpuUntil = time.Now().Add(time.Hour)
			}
			u := proto.RenderUnit{Encoding: proto.Encoding{Encoder: c.unitEnc}}
			got, err := w.attempts(u)
			var hb *handBackError
			if c.handBack != errors.As(err, &hb) {
				t.Fatalf("err %v, want hand-back %v", err, c.handBack)
			}
			if strings.Join(fmtAttempts(got), " ") != strings.Join(fmtAttempts(c.want), " ") {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func fmtAttempts(as []attempt) []string {
	var out []string
	for _, a := range as {
		out = append(out, describe(a.encoder, a.cuda))
	}
	return out
}

// busyStore serves "media/busy.mp4" from an HTTP server that answers 503
// (an object store in trouble) until busyUntil, then the file; Stat of it
// fails meanwhile too.
type busyStore struct {
	blob.Store
	url       string
	busyUntil time.Time
}

func (s busyStore) ReadURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if key == "media/busy.mp4" {
		return s.url, nil
	}
	return s.Store.ReadURL(ctx, key, expiry)
}

func (s busyStore) Stat(ctx context.Context, key string) (blob.Info, error) {
	if key == "media/busy.mp4" && time.Now().Before(s.busyUntil) {
		return blob.Info{}, errors.New("503 Service Unavailable: the store is busy")
	}
	return s.Store.Stat(ctx, key)
}

// TestWorkerStoreHiccupIsNotAbsence: while the object store answers 503
// for a source, the unit is handed back and rendered again later with that
// source present: a moment of trouble is never rendered as a missing
// speaker (before, the repair after the failed render marked it absent and
// the unit was done, black, with a warning).
func TestWorkerStoreHiccupIsNotAbsence(t *testing.T) {
	m := media(t)
	f := newFarm(t, localStore(t))
	f.put("media/red.mp4", m.red.path)
	f.put("media/busy.mp4", m.blue.path)
	data, err := os.ReadFile(m.blue.path)
	if err != nil {
		t.Fatal(err)
	}
	busyUntil := time.Now().Add(4 * time.Second)
	var busy, served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Now().Before(busyUntil) {
			busy.Add(1)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		served.Add(1)
		http.ServeContent(w, r, "busy.mp4", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	f.start(t, "renderer-a", nil, busyStore{Store: f.store, url: srv.URL + "/busy.mp4", busyUntil: busyUntil})

	u := testUnit(640, 360, 2, []proto.UnitSource{
		src("red", proto.SourceWebcam, m.red, 0, 0, 2),
		src("busy", proto.SourceWebcam, m.blue, 0, 0, 2),
	}, proto.UnitWindow{Start: 0, End: 2, Layout: proto.LayoutGrid, Grid: []string{"red", "busy"}, Audio: []string{"red", "busy"}})
	u.Job = "jbusy"
	u.Sources[0].Key, u.Sources[1].Key = "media/red.mp4", "media/busy.mp4"
	u.VideoKey, u.AudioKey = proto.UnitVideoKey("jbusy", 0, 0), proto.UnitAudioKey("jbusy", 0, 0)
	f.publish(u)
	res, ok := f.result(90 * time.Second)
	if !ok || res.Status != proto.UnitDone {
		t.Fatalf("result %+v (ok %v), want done", res, ok)
	}
	for _, e := range f.eventsOf(proto.EventWarning) {
		if strings.Contains(e.Message, "busy") {
			t.Errorf("a store hiccup became a warning: %s", e.Message)
		}
	}
	if busy.Load() == 0 || served.Load() == 0 {
		t.Fatalf("the store was busy %d times and served %d: the test did not exercise the hiccup", busy.Load(), served.Load())
	}
}

// Hand-backs of a unit this renderer is excluded from are quick at first
// and then slow down, so excluded renderers cannot use up the unit's
// deliveries while the renderer that may render it is busy with a long unit
// (before: every 1-3 s, all 50 deliveries gone in about a minute).
func TestHandBackDelayOutlastsLongUnits(t *testing.T) {
	var total time.Duration
	for a := 1; a < proto.MaxDeliver; a++ {
		d := handBackDelay(a)
		if a <= 3 && d > 3*time.Second {
			t.Errorf("hand-back %d waits %s: the first ones must be quick for a free renderer", a, d)
		}
		if d > 6*time.Minute {
			t.Errorf("hand-back %d waits %s, more than the 5-minute cap and its jitter", a, d)
		}
		total += d
	}
	if total < 2*time.Hour {
		t.Errorf("the %d deliveries of a unit last %s of hand-backs; want hours (a 30-minute unit or several ahead of it)", proto.MaxDeliver, total)
	}
}

// The object store down for a minute while a unit is to be rendered (MinIO
// killed, then back on its data): the renderer hands the unit back and
// renders it once the store answers, with every source present. Before,
// a probe that failed because the store was down marked the sources absent
// and the unit was stored black and silent as done.
func TestWorkerRidesOutAStoreOutage(t *testing.T) {
	m := media(t)
	srv := miniotest.Start(t)
	store, err := blob.NewS3(context.Background(), srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	f := newFarm(t, store)
	f.put("media/yellow.mp4", m.yellow.path)
	f.put("media/red.mp4", m.red.path)
	f.start(t, "renderer-a", nil, nil)
	srv.Kill()
	u := presenterUnit(m, "j9")
	f.publish(u)
	outage := 60 * time.Second
	if res, ok := f.result(outage); ok {
		t.Fatalf("a result while the store was down: %+v", res)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	res, ok := f.result(3 * time.Minute)
	if !ok || res.Status != proto.UnitDone {
		t.Fatalf("after the store came back: result %+v (ok %v), want the unit done", res, ok)
	}
	for _, e := range f.eventsOf(proto.EventWarning) {
		t.Errorf("warning %q: no source may be left out for a store outage", e.Message)
	}
	video := filepath.Join(t.TempDir(), "u.ts")
	if _, err := store.GetFile(context.Background(), u.VideoKey, video); err != nil {
		t.Fatal(err)
	}
	img := decodeFrames(t, video, 640, 360, 40)[0]
	rects := u.Windows[0].Rects(640, 360)
	if got := regionColor(img, 640, rects[0]); !nearColor(got, m.yellow.rgb) {
		t.Errorf("main is %v, want the yellow screen share", got)
	}
	if got := regionColor(img, 640, rects[1]); !nearColor(got, m.red.rgb) {
		t.Errorf("pip is %v, want the red webcam", got)
	}
}
