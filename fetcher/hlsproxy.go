package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/retry"
)

// hlsProxy is a loopback HTTP server that ffmpeg reads an HLS stream
// through. ffmpeg makes its own connections and resolves names itself, so
// it is never given an MTS URL: it gets a proxy URL, every playlist it reads
// is rewritten so that all its URIs are proxy URLs too, and the proxy checks
// each upstream URL with the Policy and fetches it with the guarded client
// (dial-time address check, redirects re-checked). ffmpeg runs with
// -protocol_whitelist http,tcp, so it can open nothing else. One proxy serves
// one task, which also makes its byte count the task's progress.
type hlsProxy struct {
	policy    *Policy
	client    *http.Client
	userAgent string
	backoff   retry.Backoff
	attempts  int
	onBytes   func(n int64)
	log       zerolog.Logger

	ln   net.Listener
	srv  *http.Server
	base string

	bytes    atomic.Int64
	requests atomic.Int64
	mu       sync.Mutex
	refusal  error
}

const (
	proxyPrefix    = "/u/"
	refusedPath    = "/refused"
	maxPlaylistLen = 4 << 20
)

// startHLSProxy starts a proxy on a random loopback port.
func startHLSProxy(p *hlsProxy) (*hlsProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the HLS proxy: %w", err)
	}
	p.ln = ln
	p.base = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Base is the proxy's own URL (http://127.0.0.1:PORT).
func (p *hlsProxy) Base() string { return p.base }

// Close stops the proxy and its open responses.
func (p *hlsProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

// Refusal is the first Policy refusal the proxy made, nil when none.
func (p *hlsProxy) Refusal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refusal
}

func (p *hlsProxy) refuse(err error) {
	p.mu.Lock()
	if p.refusal == nil {
		p.refusal = err
	}
	p.mu.Unlock()
}

// URL maps an upstream URL to the proxy URL ffmpeg opens. A URL that is not
// absolute http(s) maps to a path the proxy refuses.
func (p *hlsProxy) URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return p.base + refusedPath + "?u=" + url.QueryEscape(raw)
	}
	s := p.base + proxyPrefix + u.Scheme + "/" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}

// upstream is the inverse of URL.
func (p *hlsProxy) upstream(r *http.Request) (string, error) {
	if r.URL.Path == refusedPath {
		return "", fmt.Errorf("%w: the HLS playlist names %q; only http and https are fetched",
			ErrHostNotAllowed, redact(r.URL.Query().Get("u")))
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), proxyPrefix)
	if !ok {
		if r.URL.IsAbs() && "http://"+r.URL.Host != p.base { // a proxy-form request for another host
			return "", fmt.Errorf("%w: ffmpeg asked for %s, which the playlists do not lead to through the proxy",
				ErrHostNotAllowed, redactURL(r.URL))
		}
		return "", fmt.Errorf("%w: unknown proxy path %q", ErrHostNotAllowed, r.URL.Path)
	}
	scheme, rest, ok := strings.Cut(rest, "/")
	host, path, _ := strings.Cut(rest, "/")
	if !ok || host == "" {
		return "", fmt.Errorf("%w: bad proxy path %q", ErrHostNotAllowed, r.URL.Path)
	}
	s := scheme + "://" + host + "/" + path
	if r.URL.RawQuery != "" {
		s += "?" + r.URL.RawQuery
	}
	return s, nil
}

func (p *hlsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	raw, err := p.upstream(r)
	if err == nil {
		_, err = p.policy.Check(raw)
	}
	if err != nil {
		p.refuse(err)
		p.log.Warn().Err(err).Msg("HLS proxy refused a URL")
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	playlist := looksLikePlaylist(r.URL.Path, "")
	resp, err := p.do(r, raw, !playlist)
	if err != nil {
		if errors.Is(err, ErrHostNotAllowed) {
			p.refuse(err)
		}
		p.log.Debug().Err(err).Str("url", redact(raw)).Msg("HLS proxy upstream failed")
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if (playlist || looksLikePlaylist(r.URL.Path, resp.Header.Get("Content-Type"))) && resp.StatusCode == http.StatusOK {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxPlaylistLen+1))
		if err != nil || len(body) > maxPlaylistLen {
			http.Error(w, "reading the playlist failed or it is over 4 MiB", http.StatusBadGateway)
			return
		}
		if mts.IsPlaylist(body) {
			body = mts.RewritePlaylist(body, resp.Request.URL, p.URL)
		}
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		p.count(int64(len(body)))
		return
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			p.count(int64(n))
		}
		if rerr != nil {
			return
		}
	}
}

// do sends the upstream request, retrying network errors and 5xx/429 before
// any byte went to ffmpeg. ranges passes ffmpeg's Range on; a playlist is
// always fetched whole (it is rewritten, so byte offsets would not match).
func (p *hlsProxy) do(r *http.Request, raw string, ranges bool) (*http.Response, error) {
	for n := 1; ; n++ {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, raw, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range []string{"Range", "If-Range"} {
			if v := r.Header.Get(h); v != "" && ranges {
				req.Header.Set(h, v)
			}
		}
		if p.userAgent != "" {
			req.Header.Set("User-Agent", p.userAgent)
		}
		resp, err := p.client.Do(req)
		if err == nil {
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return resp, nil
			}
			err = &StatusError{Code: resp.StatusCode, URL: redact(raw),
				RetryAfter: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
			if n >= p.attempts {
				return resp, nil // hand ffmpeg the error status
			}
			resp.Body.Close()
		}
		if !transient(err) || n >= p.attempts || r.Context().Err() != nil {
			return nil, err
		}
		wait, _ := retryWait(err, n, p.backoff, p.backoff.Max)
		if retry.Sleep(r.Context(), min(wait, p.backoff.Max)) != nil {
			return nil, r.Context().Err()
		}
	}
}

func (p *hlsProxy) count(n int64) {
	p.bytes.Add(n)
	if p.onBytes != nil {
		p.onBytes(n)
	}
}

func looksLikePlaylist(path, contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasSuffix(path, ".m3u8") || strings.HasSuffix(path, ".m3u") || strings.Contains(ct, "mpegurl")
}

// hlsArgs is the ffmpeg argv (without the program) that copies the HLS
// stream at input (a URL on the loopback proxy at proxy) into an MP4 at
// output: video and audio streams only (HLS may carry ID3 data streams MP4
// cannot hold), no re-encoding, and only the http and tcp protocols.
// -http_proxy names the same proxy, so an http_proxy from the environment
// (which ffmpeg honours, also for HLS segments) cannot send ffmpeg's
// requests anywhere else.
func hlsArgs(proxy, input, output string) []string {
	return []string{
		"-v", "warning",
		"-protocol_whitelist", "http,tcp",
		"-http_proxy", proxy,
		"-rw_timeout", "30000000",
		"-i", input,
		"-map", "0:v?", "-map", "0:a?",
		"-c", "copy",
		"-f", "mp4",
		output,
	}
}
