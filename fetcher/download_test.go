package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/rs/zerolog"
)

// testContent is deterministic pseudo-random bytes.
func testContent(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// rangeServer serves content with Range support and lets a test break
// individual requests. It records the Range header of every request.
type rangeServer struct {
	content []byte
	// misbehave, when set, may handle request number n (1-based) itself and
	// return true.
	misbehave func(n int, w http.ResponseWriter, r *http.Request) bool

	mu     sync.Mutex
	ranges []string
	srv    *httptest.Server
}

func newRangeServer(t *testing.T, content []byte, misbehave func(int, http.ResponseWriter, *http.Request) bool) *rangeServer {
	rs := &rangeServer{content: content, misbehave: misbehave}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.ranges = append(rs.ranges, r.Header.Get("Range"))
		n := len(rs.ranges)
		rs.mu.Unlock()
		if rs.misbehave != nil && rs.misbehave(n, w, r) {
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "x.mp4", time.Unix(1700000000, 0), bytes.NewReader(rs.content))
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *rangeServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.ranges...)
}

// dropAfter writes the headers of the full content and then only n bytes
// before cutting the connection.
func dropAfter(content []byte, n int, w http.ResponseWriter) {
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	w.Header().Set("ETag", `"v1"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content[:n])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func testDL(t *testing.T, allow ...string) *downloader {
	t.Helper()
	p, err := NewPolicy(allow...)
	if err != nil {
		t.Fatal(err)
	}
	return &downloader{client: newHTTPClient(p, 5*time.Second, nil), backoff: retry.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		maxFailures: 4, maxInlineWait: 2 * time.Second, stall: 500 * time.Millisecond, log: zerolog.Nop()}
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file has %d bytes, differs from the %d bytes served", len(got), len(want))
	}
}

func TestDownloadResumesAfterDrop(t *testing.T) {
	content := testContent(1 << 20)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			dropAfter(content, 300_000, w)
		}
		if n == 2 { // the resumed request also breaks, later
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 300000-%d/%d", len(content)-1, len(content)))
			w.Header().Set("Content-Length", strconv.Itoa(len(content)-300_000))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(content[300_000:700_000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		return false
	})
	d := testDL(t, rs.srv.URL)
	path := filepath.Join(t.TempDir(), "x.mp4")
	var last, lastTotal int64
	st, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", path, func(done, total int64) { last, lastTotal = done, total })
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, content)
	if got := rs.requests(); len(got) != 3 || got[0] != "" || got[1] != "bytes=300000-" || got[2] != "bytes=700000-" {
		t.Fatalf("requests' Range headers = %q, want none, then resume at 300000 and 700000", got)
	}
	if st.Size != int64(len(content)) || st.Total != int64(len(content)) || st.Resumes != 2 || st.Requests != 3 {
		t.Errorf("stats = %+v", st)
	}
	if last != int64(len(content)) || lastTotal != int64(len(content)) {
		t.Errorf("last progress %d/%d", last, lastTotal)
	}
}

func TestDownloadRestartsWhenRangeIgnored(t *testing.T) {
	content := testContent(200_000)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			dropAfter(content, 50_000, w)
		}
		// Every other request: the whole file with 200, Range ignored.
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(content)
		return true
	})
	d := testDL(t, rs.srv.URL)
	path := filepath.Join(t.TempDir(), "x.mp4")
	if _, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", path, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, content)
}

func TestDownloadRestartsOnWrongContentRange(t *testing.T) {
	content := testContent(200_000)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 1:
			dropAfter(content, 50_000, w)
		case 2: // answers the resume with bytes from another offset
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", len(content)-1, len(content)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(content[10:])
			return true
		}
		return false
	})
	d := testDL(t, rs.srv.URL)
	path := filepath.Join(t.TempDir(), "x.mp4")
	if _, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", path, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, content)
	if got := rs.requests(); len(got) != 3 || got[2] != "" {
		t.Errorf("after a wrong Content-Range the download must start over without Range: %q", got)
	}
}

func TestDownloadRetriesServerErrors(t *testing.T) {
	content := testContent(10_000)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 1:
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		case 2:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	d := testDL(t, rs.srv.URL)
	path := filepath.Join(t.TempDir(), "x.mp4")
	start := time.Now()
	st, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, content)
	if st.Requests != 3 {
		t.Errorf("requests = %d, want 3", st.Requests)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("Retry-After: 1 was not honoured (done after %s)", el)
	}
}

func TestDownloadLongRetryAfterHandsBack(t *testing.T) {
	rs := newRangeServer(t, nil, func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "come back in an hour", http.StatusServiceUnavailable)
		return true
	})
	d := testDL(t, rs.srv.URL)
	_, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	var rl *retryLaterError
	if !errors.As(err, &rl) || rl.after != time.Hour {
		t.Fatalf("err = %v, want a retry-later of 1h", err)
	}
	if n := len(rs.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDownloadGivesUpOnPersistentFailure(t *testing.T) {
	rs := newRangeServer(t, nil, func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	})
	d := testDL(t, rs.srv.URL)
	_, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadGateway || !transient(err) {
		t.Fatalf("err = %v, want a transient 502", err)
	}
	if n := len(rs.requests()); n != d.maxFailures {
		t.Errorf("%d requests, want %d", n, d.maxFailures)
	}
}

func TestDownloadNotFoundIsFinal(t *testing.T) {
	rs := newRangeServer(t, nil, func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.NotFound(w, r)
		return true
	})
	d := testDL(t, rs.srv.URL)
	_, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || transient(err) {
		t.Fatalf("err = %v, want a final 404", err)
	}
	if n := len(rs.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDownloadStallIsResumed(t *testing.T) {
	content := testContent(100_000)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(content[:40_000])
			w.(http.Flusher).Flush()
			select { // hang until the client gives up on us
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}
		return false
	})
	d := testDL(t, rs.srv.URL)
	d.stall = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "x.mp4")
	if _, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", path, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, content)
	if got := rs.requests(); len(got) != 2 || got[1] != "bytes=40000-" {
		t.Errorf("ranges = %q, want a resume at 40000 after the stall", got)
	}
}

func TestDownloadCanceled(t *testing.T) {
	content := testContent(100_000)
	ctx, cancel := context.WithCancel(context.Background())
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(content[:1000])
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
		return true
	})
	d := testDL(t, rs.srv.URL)
	_, err := d.get(ctx, rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(rs.requests()); n != 1 {
		t.Errorf("%d requests after cancel, want 1", n)
	}
}

func TestRedirectsAreRechecked(t *testing.T) {
	target := newRangeServer(t, testContent(100), nil)
	origin := newRangeServer(t, nil, func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, target.srv.URL+"/elsewhere.mp4", http.StatusFound)
		return true
	})
	d := testDL(t, origin.srv.URL) // only the origin is allowed
	_, err := d.get(context.Background(), origin.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("err = %v, want ErrHostNotAllowed", err)
	}
	if n := len(target.requests()); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
	if n := len(origin.requests()); n != 1 {
		t.Errorf("the origin got %d requests, want 1 (a refusal is not retried)", n)
	}
}

// TestDialRefusesRebinding points an MTS Link name at the loopback test
// server, as a rebinding DNS would: the name passes the URL check, the
// address is refused when dialing, and the server sees no request.
func TestDialRefusesRebinding(t *testing.T) {
	rs := newRangeServer(t, testContent(100), nil)
	port := rs.srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	p, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	d := testDL(t)
	d.client = newHTTPClient(p, time.Second, lookup)
	// The default policy only takes ports 80/443 for MTS hosts; use a
	// policy-level port check bypass by asking for the standard port and
	// redirecting the dial: the address check comes first either way.
	u := fmt.Sprintf("http://events-storage.webinar.ru:%d/x.mp4", port)
	_, err = d.get(context.Background(), u, filepath.Join(t.TempDir(), "x"), nil)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("non-standard port: err = %v, want ErrHostNotAllowed", err)
	}
	_, err = d.get(context.Background(), "http://events-storage.webinar.ru/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	if !errors.Is(err, ErrHostNotAllowed) || !bytes.Contains([]byte(err.Error()), []byte("resolves to 127.0.0.1")) {
		t.Fatalf("rebinding: err = %v, want a refusal naming the address", err)
	}
	if n := len(rs.requests()); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestParseContentRange(t *testing.T) {
	for in, want := range map[string][3]int64{
		"bytes 0-99/100":    {0, 100, 1},
		"bytes 50-99/100":   {50, 100, 1},
		"bytes 50-99/*":     {50, -1, 1},
		"bytes */100":       {-1, 100, 1},
		"bytes 50-100/100":  {0, 0, 0},
		"bytes 60-50/100":   {0, 0, 0},
		"bytes x-1/2":       {0, 0, 0},
		"items 0-1/2":       {0, 0, 0},
		"bytes 0-1":         {0, 0, 0},
		"":                  {0, 0, 0},
		"bytes */*":         {0, 0, 0},
		" bytes 1-1/2 ":     {1, 2, 1},
		"bytes -1-5/10":     {0, 0, 0},
		"bytes 0-9/-1":      {0, 0, 0},
		"bytes 10-19/20000": {10, 20000, 1},
	} {
		s, tot, ok := parseContentRange(in)
		if ok != (want[2] == 1) || ok && (s != want[0] || tot != want[1]) {
			t.Errorf("parseContentRange(%q) = %d %d %v, want %v", in, s, tot, ok, want)
		}
	}
}

// TestDownloadGivesUpOnRepeatedDropsWithoutRange: a server that ignores
// Range and drops every response at the same byte runs out of attempts
// instead of looping forever.
func TestDownloadGivesUpOnRepeatedDropsWithoutRange(t *testing.T) {
	content := testContent(100_000)
	rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
		dropAfter(content, 30_000, w)
		return true
	})
	d := testDL(t, rs.srv.URL)
	_, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x"), nil)
	if err == nil || !transient(err) {
		t.Fatalf("err = %v, want a transient failure", err)
	}
	if n := len(rs.requests()); n > d.maxFailures+1 {
		t.Errorf("%d requests, want at most %d", n, d.maxFailures+1)
	}
}

// TestDownloadSizeCap: a file over the cap fails at once, permanently, with
// the cap in the message — whether the server announces its size or streams
// without one — and nothing is retried.
func TestDownloadSizeCap(t *testing.T) {
	content := testContent(3 << 20)
	for _, announce := range []bool{true, false} {
		rs := newRangeServer(t, content, func(n int, w http.ResponseWriter, r *http.Request) bool {
			if announce {
				return false
			}
			w.WriteHeader(http.StatusOK) // no Content-Length: chunked
			for off := 0; off < len(content); off += 64 << 10 {
				_, _ = w.Write(content[off : off+64<<10])
				w.(http.Flusher).Flush()
			}
			return true
		})
		d := testDL(t, rs.srv.URL)
		d.maxBytes = 1 << 20
		_, err := d.get(context.Background(), rs.srv.URL+"/x.mp4", filepath.Join(t.TempDir(), "x.mp4"), nil)
		if !errors.Is(err, ErrTooBig) || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "--max-chunk-bytes") {
			t.Errorf("announced %v: error %v; want a permanent ErrTooBig naming --max-chunk-bytes", announce, err)
		}
		if n := len(rs.requests()); n != 1 {
			t.Errorf("announced %v: %d requests; want 1 (no retry of a file over the cap)", announce, n)
		}
	}
}
