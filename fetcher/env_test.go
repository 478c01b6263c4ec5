package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/blob/miniotest"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The integration tests run the fetcher against the fake MTS Link server
// (real HTTP, media made by ffmpeg), a real embedded nats-server with
// JetStream, and both object stores (a local directory and a real MinIO
// process).

var (
	sharedMinio miniotest.Shared
	// mediaCache is the fake server's media cache, shared by the tests
	// (it is content-addressed).
	mediaCache string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtsfarm-fetcher-media-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mediaCache = dir
	code := m.Run()
	sharedMinio.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// countingStore is a real store that counts uploads per key.
type countingStore struct {
	blob.Store
	mu   sync.Mutex
	puts map[string]int
}

func (c *countingStore) count(key string) {
	c.mu.Lock()
	c.puts[key]++
	c.mu.Unlock()
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, o blob.PutOptions) (blob.Info, error) {
	c.count(key)
	return c.Store.Put(ctx, key, r, size, o)
}

func (c *countingStore) PutFile(ctx context.Context, key, p string, o blob.PutOptions) (blob.Info, error) {
	c.count(key)
	return c.Store.PutFile(ctx, key, p, o)
}

func (c *countingStore) Puts(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts[key]
}

type env struct {
	t       testing.TB
	fake    *mtstest.Server
	js      jetstream.JetStream
	store   *countingStore
	results jetstream.Consumer
	workDir string
	log     zerolog.Logger
}

const testAckWait = 3 * time.Second

func newStore(t testing.TB, kind string) blob.Store {
	t.Helper()
	switch kind {
	case "local":
		st, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	case "s3":
		srv := sharedMinio.Get(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := blob.NewS3(ctx, srv.NewBucket(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

func newEnv(t testing.TB, scenario string, storeKind string) *env {
	t.Helper()
	sc, err := mtstest.ParseScenario([]byte(scenario))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	log := zerolog.Nop()
	if testing.Verbose() {
		log = bustest.Logger(t)
	}
	fake := mtstest.StartWith(t, sc, mtstest.Options{CacheDir: mediaCache, Log: log})
	_, _, js := bustest.StartWith(t, bustest.WithAckWait(bus.Definitions(1), testAckWait))
	return &env{t: t, fake: fake, js: js, store: &countingStore{Store: newStore(t, storeKind), puts: map[string]int{}},
		results: bustest.Consumer(t, js, proto.StreamResults, proto.ConsumerResults), workDir: t.TempDir(), log: log}
}

func (e *env) config(id string) Config {
	cfg := DefaultConfig()
	cfg.WorkerID = id
	cfg.WorkDir = e.workDir
	cfg.MTSBaseURLs = []string{e.fake.URL}
	cfg.RetryBase, cfg.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.StallTimeout = 2 * time.Second
	cfg.PresenceEvery = time.Second
	cfg.PollWait = 500 * time.Millisecond
	return cfg
}

// fetcher is a running Worker; stop cancels its Run and waits for it.
type fetcher struct {
	w    *Worker
	stop func() error
}

func (e *env) start(cfg Config) *fetcher {
	e.t.Helper()
	w, err := New(cfg, Deps{JS: e.js, Store: e.store, FFmpeg: ffmpeg.New(e.log), Log: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return 30s after cancel")
			}
		})
		return runErr
	}
	e.t.Cleanup(func() { _ = stop() })
	return &fetcher{w: w, stop: stop}
}

func (e *env) publish(task proto.FetchTask) {
	e.t.Helper()
	task.Type = proto.TypeFetchTask
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Publish(ctx, e.js, proto.FetchSubject(task.Job), task,
		proto.MsgID(task.Job, task.Kind, task.Index, task.Generation)); err != nil {
		e.t.Fatal(err)
	}
}

// results collects fetch results until every one of want (kind/index) has
// one, or timeout. It returns every result seen, duplicates included.
func (e *env) waitResults(job string, want int, timeout time.Duration) []proto.FetchResult {
	e.t.Helper()
	var all []proto.FetchResult
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for len(seen) < want && time.Now().Before(deadline) {
		batch, err := e.results.FetchNoWait(100)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			_ = msg.Ack()
			res, err := bus.Decode[proto.FetchResult](msg.Data())
			if err != nil {
				e.t.Fatalf("a result does not decode: %v", err)
			}
			if res.Job != job {
				continue
			}
			all = append(all, res)
			seen[fmt.Sprintf("%s/%d", res.Kind, res.Index)] = true
		}
		if n == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(seen) < want {
		e.t.Fatalf("job %s: %d of %d results after %s: %+v", job, len(seen), want, timeout, all)
	}
	return all
}

// drainResults returns the results that arrive within d.
func (e *env) drainResults(d time.Duration) []proto.FetchResult {
	var out []proto.FetchResult
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		batch, err := e.results.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			e.t.Fatal(err)
		}
		for msg := range batch.Messages() {
			_ = msg.Ack()
			if res, err := bus.Decode[proto.FetchResult](msg.Data()); err == nil {
				out = append(out, res)
			}
		}
	}
	return out
}

// events returns every event of job so far.
func (e *env) events(job string) []proto.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.js.OrderedConsumer(ctx, proto.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{proto.EventsFilter(job)}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []proto.Event
	for {
		batch, err := c.FetchNoWait(100)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var ev proto.Event
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ev)
		}
		if n == 0 {
			return out
		}
	}
}

func byIndex(results []proto.FetchResult, kind string) map[int][]proto.FetchResult {
	out := map[int][]proto.FetchResult{}
	for _, r := range results {
		if r.Kind == kind {
			out[r.Index] = append(out[r.Index], r)
		}
	}
	return out
}

func mediaTask(job string, i int, c mtstest.Chunk) proto.FetchTask {
	return proto.FetchTask{Job: job, Kind: proto.FetchMedia, Index: i, URL: c.URL,
		Key: proto.MediaKey(c.URL, "mp4"), Session: c.SessionID}
}

func slideTask(job string, i int, s mtstest.SlideInfo) proto.FetchTask {
	return proto.FetchTask{Job: job, Kind: proto.FetchSlide, Index: i, URL: s.URL, Key: proto.SlideKey(s.URL, "jpg")}
}

// storedInfo reads the sidecar of key and probes the stored object itself.
func (e *env) storedInfo(key string) (sidecar, probed proto.MediaInfo) {
	e.t.Helper()
	ctx := context.Background()
	rc, _, err := e.store.Get(ctx, proto.ProbeKey(key))
	if err != nil {
		e.t.Fatalf("sidecar of %s: %v", key, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(&sidecar); err != nil {
		e.t.Fatal(err)
	}
	loc, err := e.store.ReadURL(ctx, key, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	probed, err = ffmpeg.New(zerolog.Nop()).Probe(ctx, loc)
	if err != nil {
		e.t.Fatalf("probing stored %s: %v", key, err)
	}
	info, err := e.store.Stat(ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	probed.Size = info.Size
	return sidecar, probed
}

// mediaHits counts the fake server's requests for media, HLS and slides
// (everything but the flow API).
func mediaHits(reqs []mtstest.Request) int {
	n := 0
	for _, r := range reqs {
		if len(r.Path) < 5 || r.Path[:5] != "/api/" {
			n++
		}
	}
	return n
}
