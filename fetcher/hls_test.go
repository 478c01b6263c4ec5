package fetcher

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/rs/zerolog"
)

func TestPlaylistHasVideo(t *testing.T) {
	for body, want := range map[string]bool{
		"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv1/chunklist.m3u8\n":                       true, // cyberb's rule
		"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360\nchunklist.m3u8\n":       true,
		"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.42e01e,mp4a.40.2\"\nc.m3u8\n": true,
		"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"mp4a.40.2\"\na1/chunklist.m3u8\n":  false,
		"#EXTM3U\n#EXTINF:10,\nseg0.ts\n":                                                   false,
		"<html>v1/ RESOLUTION=640x360</html>":                                               false, // not a playlist
		"":                                                                                  false,
	} {
		if got := mts.PlaylistHasVideo([]byte(body)); got != want {
			t.Errorf("mts.PlaylistHasVideo(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestRewritePlaylist(t *testing.T) {
	in := "#EXTM3U\r\n" +
		"#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\",IV=0x1\r\n" +
		"#EXT-X-MAP:URI=\"/init.mp4\"\r\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"https://other.example/a.m3u8\"\r\n" +
		"#EXTINF:1.0,\r\n" +
		"seg0.ts?t=1\r\n" +
		"\r\n" +
		"#EXTINF:1.0,\r\n" +
		"  https://cdn.webinar.ru/x/seg1.ts  \r\n" +
		"file:///etc/passwd\r\n"
	base, _ := url.Parse("https://events-delivery-records.webinar.ru/record/2026/a.mp4/v1/chunklist.m3u8")
	got := string(mts.RewritePlaylist([]byte(in), base, func(raw string) string { return "<" + raw + ">" }))
	want := "#EXTM3U\n" +
		"#EXT-X-KEY:METHOD=AES-128,URI=\"<https://events-delivery-records.webinar.ru/record/2026/a.mp4/v1/key.bin>\",IV=0x1\n" +
		"#EXT-X-MAP:URI=\"<https://events-delivery-records.webinar.ru/init.mp4>\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"<https://other.example/a.m3u8>\"\n" +
		"#EXTINF:1.0,\n" +
		"<https://events-delivery-records.webinar.ru/record/2026/a.mp4/v1/seg0.ts?t=1>\n" +
		"\n" +
		"#EXTINF:1.0,\n" +
		"<https://cdn.webinar.ru/x/seg1.ts>\n" +
		"<file:///etc/passwd>\n"
	if got != want {
		t.Errorf("rewritten playlist:\n%s\nwant:\n%s", got, want)
	}
}

func TestHLSArgs(t *testing.T) {
	got := hlsArgs("http://127.0.0.1:5000", "http://127.0.0.1:5000/u/https/h/p.m3u8", "/tmp/x/hls.mp4")
	want := []string{"-v", "warning", "-protocol_whitelist", "http,tcp", "-http_proxy", "http://127.0.0.1:5000",
		"-rw_timeout", "30000000", "-i", "http://127.0.0.1:5000/u/https/h/p.m3u8",
		"-map", "0:v?", "-map", "0:a?", "-c", "copy", "-f", "mp4", "/tmp/x/hls.mp4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hlsArgs =\n%q\nwant\n%q", got, want)
	}
}

func TestProxyURLRoundTrip(t *testing.T) {
	p := &hlsProxy{base: "http://127.0.0.1:1"}
	for _, raw := range []string{
		"https://events-delivery-records.webinar.ru/record/2026/02/20/a%20b.mp4/playlist.m3u8?x=1&y=2",
		"http://127.0.0.1:8080/m/x.mp4/playlist.m3u8",
		"http://[::1]:8080/v1/seg0.ts",
	} {
		pu := p.URL(raw)
		req := httptest.NewRequest(http.MethodGet, pu, nil)
		got, err := p.upstream(req)
		if err != nil || got != raw {
			t.Errorf("URL(%q) = %q maps back to %q, %v", raw, pu, got, err)
		}
	}
	for _, raw := range []string{"file:///etc/passwd", "data:text/plain,x", "seg.ts"} {
		req := httptest.NewRequest(http.MethodGet, p.URL(raw), nil)
		if _, err := p.upstream(req); !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("%q: err = %v, want a refusal", raw, err)
		}
	}
}

// makeHLS writes a 2-second 160x120 video+audio HLS stream (1 s segments)
// under dir/v1/ and a master playlist dir/playlist.m3u8 naming it.
func makeHLS(t *testing.T, run *ffmpeg.Runner, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := run.Run(context.Background(), []string{"-v", "error",
		"-f", "lavfi", "-i", "color=c=red:s=160x120:r=10", "-f", "lavfi", "-i", "sine=f=440:r=44100",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac",
		"-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
		"-hls_segment_filename", filepath.Join(dir, "v1", "seg%d.ts"), filepath.Join(dir, "v1", "index.m3u8")}, nil)
	if err != nil {
		t.Fatalf("making a test HLS stream (run scripts/test.sh to install ffmpeg): %v", err)
	}
	master := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x120\nv1/index.m3u8\n"
	if err := os.WriteFile(filepath.Join(dir, "playlist.m3u8"), []byte(master), 0o644); err != nil {
		t.Fatal(err)
	}
}

type countingServer struct {
	*httptest.Server
	n atomic.Int64
}

func serveDir(t *testing.T, dir string) *countingServer {
	cs := &countingServer{}
	fs := http.FileServer(http.Dir(dir))
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.n.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func startTestProxy(t *testing.T, onBytes func(int64), allow ...string) *hlsProxy {
	t.Helper()
	pol, err := NewPolicy(allow...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := startHLSProxy(&hlsProxy{policy: pol, client: newHTTPClient(pol, 5*time.Second, nil),
		backoff: retry.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}, attempts: 3, onBytes: onBytes, log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestHLSThroughProxy copies a real HLS stream with ffmpeg through the
// proxy, with an http_proxy in the environment that would divert ffmpeg's
// requests if it were used.
func TestHLSThroughProxy(t *testing.T) {
	run := ffmpeg.New(zerolog.Nop())
	dir := t.TempDir()
	makeHLS(t, run, dir)
	srv := serveDir(t, dir)
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	t.Setenv("no_proxy", "")
	beats := new(atomic.Int64)
	p := startTestProxy(t, func(int64) { beats.Add(1) }, srv.URL)
	out := filepath.Join(t.TempDir(), "hls.mp4")
	if err := run.Run(context.Background(), hlsArgs(p.Base(), p.URL(srv.URL+"/playlist.m3u8"), out), nil); err != nil {
		t.Fatalf("ffmpeg through the proxy: %v", err)
	}
	info, err := run.Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasVideo || !info.HasAudio || info.Duration < 1.8 || info.Width != 160 {
		t.Errorf("HLS copy = %+v, want 160x120 video and audio of about 2 s", info)
	}
	// master + media playlist + 2 segments at least, all via the proxy.
	if n, up := p.requests.Load(), srv.n.Load(); n < 4 || up != n {
		t.Errorf("proxy served %d requests, upstream saw %d; want ≥4 and equal", n, up)
	}
	if p.Refusal() != nil || beats.Load() == 0 || p.bytes.Load() == 0 {
		t.Errorf("refusal %v, %d byte callbacks, %d bytes", p.Refusal(), beats.Load(), p.bytes.Load())
	}
}

// TestHLSProxyRefusesForeignURIs: a playlist naming a segment on a host
// that is not allowed gets it refused by the proxy, with no request to that
// host; one naming a file: URI makes ffmpeg fail without reading it.
func TestHLSProxyRefusesForeignURIs(t *testing.T) {
	run := ffmpeg.New(zerolog.Nop())
	dir := t.TempDir()
	makeHLS(t, run, dir)
	foreign := serveDir(t, dir)
	lists := map[string]string{
		"foreign.m3u8": "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" + foreign.URL + "/v1/seg0.ts\n#EXT-X-ENDLIST\n",
		"file.m3u8":    "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://" + filepath.Join(dir, "v1", "seg0.ts") + "\n#EXT-X-ENDLIST\n",
	}
	for name, list := range lists {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(list), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := serveDir(t, dir)
	for name := range lists {
		p := startTestProxy(t, nil, srv.URL)
		out := filepath.Join(t.TempDir(), "hls.mp4")
		err := run.Run(context.Background(), hlsArgs(p.Base(), p.URL(srv.URL+"/"+name), out), nil)
		if err == nil {
			if info, perr := run.Probe(context.Background(), out); perr == nil && info.Validate() == nil {
				t.Fatalf("%s: ffmpeg made a valid file from refused segments: %+v", name, info)
			}
		}
		if name == "foreign.m3u8" {
			if r := p.Refusal(); !errors.Is(r, ErrHostNotAllowed) || !strings.Contains(r.Error(), "not an MTS Link host") {
				t.Errorf("refusal = %v (ffmpeg: %v)", r, err)
			}
		}
	}
	if n := foreign.n.Load(); n != 0 {
		t.Errorf("the foreign host got %d requests, want 0", n)
	}
}
