package fetcher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

type nopBeat struct{ n atomic.Int64 }

func (b *nopBeat) Progress() { b.n.Add(1) }

// TestPerHostLimit runs six downloads at once through a Worker with
// PerHost 2: the server never sees more than two at a time from one host,
// and a second host is not held up by the first.
func TestPerHostLimit(t *testing.T) {
	content := testContent(64 << 10)
	type counter struct{ cur, max atomic.Int64 }
	serve := func(c *counter) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := c.cur.Add(1)
			defer c.cur.Add(-1)
			for {
				m := c.max.Load()
				if n <= m || c.max.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(150 * time.Millisecond)
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			_, _ = w.Write(content)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	var c1, c2 counter
	s1, s2 := serve(&c1), serve(&c2)
	_, _, js := bustest.Start(t)
	st, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.WorkDir, cfg.PerHost, cfg.Slots = t.TempDir(), 2, 8
	cfg.AllowHosts = []string{s1.URL, s2.URL}
	w, err := New(cfg, Deps{JS: js, Store: st, FFmpeg: ffmpeg.New(zerolog.Nop()), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 8 {
		srv := s1
		if i >= 6 {
			srv = s2
		}
		wg.Go(func() {
			u, _ := url.Parse(srv.URL + "/x.mp4")
			rep := newReporter(&nopBeat{}, proto.FetchTask{Job: "j", Index: i}, "w", time.Second, nil)
			if _, err := w.download(context.Background(), &nopBeat{}, u, filepath.Join(dir, strconv.Itoa(i)), rep); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := c1.max.Load(); m != 2 {
		t.Errorf("host 1 saw %d downloads at once, want 2", m)
	}
	if m := c2.max.Load(); m != 2 {
		t.Errorf("host 2 saw %d downloads at once, want 2", m)
	}
	// 6 downloads of 150 ms, two at a time, on host 1.
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Errorf("done in %s: the limit did not hold", el)
	}
}

func TestHostLimiterHeartbeatsWhileWaiting(t *testing.T) {
	h := newHostLimiter(1)
	release, err := h.acquire(context.Background(), "a", &nopBeat{})
	if err != nil {
		t.Fatal(err)
	}
	beat := &nopBeat{}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if _, err := h.acquire(ctx, "a", beat); err == nil {
		t.Fatal("second acquire on a full host succeeded")
	}
	if n := beat.n.Load(); n < 2 {
		t.Errorf("%d heartbeats while waiting 2.5 s, want at least 2", n)
	}
	release()
	if r, err := h.acquire(context.Background(), "a", beat); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
}

func TestReporterThrottlesEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	var events []proto.Event
	beat := &nopBeat{}
	r := newReporter(beat, proto.FetchTask{Job: "j", Index: 7}, "w1", time.Second, func(ev proto.Event) { events = append(events, ev) })
	r.now, r.lastAt = func() time.Time { return clock }, t0
	for _, step := range []struct {
		at   time.Duration
		done int64
	}{{100 * time.Millisecond, 100}, {500 * time.Millisecond, 400}, {time.Second, 1000}, {1200 * time.Millisecond, 1100}, {2500 * time.Millisecond, 2500}} {
		clock = t0.Add(step.at)
		r.set(step.done, 4000)
	}
	if beat.n.Load() != 5 {
		t.Errorf("%d heartbeats, want one per call (5)", beat.n.Load())
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want 2 (at 1 s and 2.5 s): %+v", len(events), events)
	}
	e := events[1]
	p := e.Progress
	if e.Kind != proto.EventProgress || e.Task != "fetch" || e.Index != 7 || e.Worker != "w1" || p.BytesDone != 2500 ||
		p.BytesTotal != 4000 || p.BytesPerSecond != 1000 || p.Fraction != 0.625 || p.ETASeconds != 1.5 {
		t.Errorf("second event %+v, progress %+v", e, *p)
	}
}
