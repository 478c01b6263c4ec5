package ffmpeg

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func newRunner(t *testing.T) *Runner {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not found on PATH: run scripts/test.sh, which installs it", p)
		}
	}
	return New(zerolog.Nop())
}

// makeMedia encodes a lavfi clip into dir/name and returns its path.
func makeMedia(t *testing.T, r *Runner, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := r.Run(context.Background(), append(args, out), nil); err != nil {
		t.Fatalf("making %s: %v", name, err)
	}
	return out
}

func avClip(t *testing.T, r *Runner, secs string) string {
	return makeMedia(t, r, "av.mp4", "-f", "lavfi", "-i", "color=c=red:s=320x180:r=25:d="+secs,
		"-f", "lavfi", "-i", "sine=f=440:r=44100:d="+secs, "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-shortest")
}

func TestRunProgress(t *testing.T) {
	r := newRunner(t)
	var last Progress
	n := 0
	err := r.Run(context.Background(), []string{"-f", "lavfi", "-i", "testsrc=s=160x90:r=25:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"}, func(p Progress) { last = p; n++ })
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || !last.End {
		t.Fatalf("got %d progress blocks, last %+v; want an End block", n, last)
	}
	if last.Frame != 50 || last.OutTime < 1900*time.Millisecond || last.OutTime > 2100*time.Millisecond {
		t.Fatalf("last progress %+v, want 50 frames and ~2s", last)
	}
}

func TestParseProgress(t *testing.T) {
	in := "frame=10\nfps=5.0\nout_time_us=400000\ntotal_size=1234\nspeed=1.5x\nprogress=continue\n" +
		"frame=20\nout_time_ms=800000\nspeed=N/A\nprogress=end\n"
	var got []Progress
	parseProgress(strings.NewReader(in), func(p Progress) { got = append(got, p) })
	if len(got) != 2 {
		t.Fatalf("got %d blocks", len(got))
	}
	if got[0].Frame != 10 || got[0].OutTime != 400*time.Millisecond || got[0].Speed != 1.5 || got[0].TotalSize != 1234 || got[0].End {
		t.Errorf("block 0 = %+v", got[0])
	}
	if got[1].Frame != 20 || got[1].OutTime != 800*time.Millisecond || got[1].Speed != 0 || !got[1].End {
		t.Errorf("block 1 = %+v", got[1])
	}
}

func TestRunFailureKeepsStderrTail(t *testing.T) {
	r := newRunner(t)
	r.TailBytes = 64
	err := r.Run(context.Background(), []string{"-i", "/nonexistent/input.mp4", "-f", "null", "-"}, nil)
	var xe *ExitError
	if !errors.As(err, &xe) {
		t.Fatalf("error %v is not an *ExitError", err)
	}
	if xe.Code == 0 || !strings.Contains(xe.Stderr, "No such file") || len(xe.Stderr) > 64 {
		t.Fatalf("exit %d stderr %q", xe.Code, xe.Stderr)
	}
	if xe.OOMKilled() {
		t.Fatal("a missing input is not an OOM kill")
	}
}

func TestCancelStopsFFmpeg(t *testing.T) {
	r := newRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := r.Run(ctx, []string{"-re", "-f", "lavfi", "-i", "testsrc=s=160x90:r=25:d=60", "-f", "null", "-"}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("cancel took %v", el)
	}
}

// fakeProgram writes a shell script standing in for ffmpeg, to test signal
// handling that real ffmpeg does not exhibit on demand.
func fakeProgram(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-ffmpeg")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCancelKillsAfterGrace(t *testing.T) {
	r := newRunner(t)
	r.FFmpeg = fakeProgram(t, `trap '' INT; echo started >&2; sleep 30 & wait; sleep 30`)
	r.Grace = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := r.Run(ctx, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("a process ignoring SIGINT was not killed after the grace period (%v)", el)
	}
}

func TestOOMKilled(t *testing.T) {
	r := newRunner(t)
	for _, body := range []string{"kill -9 $$", "exit 137"} {
		r.FFmpeg = fakeProgram(t, body)
		err := r.Run(context.Background(), nil, nil)
		var xe *ExitError
		if !errors.As(err, &xe) || !xe.OOMKilled() {
			t.Errorf("%q: error %v is not an OOM kill", body, err)
		}
	}
	r.FFmpeg = fakeProgram(t, "exit 1")
	var xe *ExitError
	if err := r.Run(context.Background(), nil, nil); !errors.As(err, &xe) || xe.OOMKilled() || xe.Code != 1 {
		t.Errorf("exit 1: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	r := New(zerolog.Nop())
	r.FFmpeg = "/nonexistent/ffmpeg"
	if err := r.Run(context.Background(), nil, nil); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v", err)
	}
}

func TestProbe(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	av := avClip(t, r, "2")
	m, err := r.Probe(ctx, av)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasVideo || !m.HasAudio || m.Width != 320 || m.Height != 180 || m.SampleRate != 44100 ||
		m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.FPS != 25 || m.Size <= 0 {
		t.Fatalf("probe = %+v", m)
	}
	if m.Duration < 1.9 || m.Duration > 2.1 {
		t.Fatalf("duration %v", m.Duration)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}

	audio := makeMedia(t, r, "a.m4a", "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=1", "-c:a", "aac")
	if m, err := r.Probe(ctx, audio); err != nil || m.HasVideo || !m.HasAudio || m.SampleRate != 48000 {
		t.Fatalf("audio probe %+v %v", m, err)
	}
	img := makeMedia(t, r, "s.jpg", "-f", "lavfi", "-i", "color=c=yellow:s=64x36", "-frames:v", "1")
	if m, err := r.Probe(ctx, img); err != nil || !m.HasVideo || m.Width != 64 || m.Validate() == nil {
		t.Fatalf("image probe %+v %v (an image must not validate as media)", m, err)
	}

	// A download cut short: no moov atom (spec §5.5).
	data, _ := os.ReadFile(av)
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	if m, err := r.Probe(ctx, cut); err == nil && m.Validate() == nil {
		t.Fatalf("a truncated mp4 probed valid: %+v", m)
	}
	if _, err := r.Probe(ctx, filepath.Join(t.TempDir(), "missing.mp4")); err == nil {
		t.Fatal("probing a missing file succeeded")
	}
}

func TestDecodeCheck(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	ts := makeMedia(t, r, "v.ts", "-f", "lavfi", "-i", "testsrc=s=320x180:r=25:d=3", "-c:v", "libx264", "-preset", "ultrafast")
	var decoded time.Duration
	if err := r.DecodeCheck(ctx, ts, func(p Progress) { decoded = max(decoded, p.OutTime) }); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	if decoded < 2900*time.Millisecond {
		t.Errorf("the decode check reported progress up to %s of a 3 s file", decoded)
	}
	data, _ := os.ReadFile(ts)
	for i := len(data) / 3; i < len(data)/3+4096 && i < len(data); i++ {
		data[i] ^= 0x5a
	}
	bad := filepath.Join(t.TempDir(), "bad.ts")
	os.WriteFile(bad, data, 0o644)
	if err := r.DecodeCheck(ctx, bad, nil); err == nil {
		t.Fatal("a file with 4 KiB of garbage in the middle decoded without errors")
	}
}

func TestDetect(t *testing.T) {
	r := newRunner(t)
	c := r.Detect(context.Background())
	if len(c.Encoders) == 0 || c.Encoders[len(c.Encoders)-1] != "libx264" {
		t.Fatalf("encoders %v, want libx264 last", c.Encoders)
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil && (c.NVENC || c.CUDAFilters) {
		t.Fatalf("no NVIDIA driver here, yet NVENC=%v CUDA=%v: a listed encoder was taken as working", c.NVENC, c.CUDAFilters)
	}
	if c.CUDAFilters && !c.NVENC {
		t.Fatal("CUDA filters without NVENC")
	}
	if c2 := r.Detect(context.Background()); len(c2.Encoders) != len(c.Encoders) {
		t.Fatal("Detect is not stable")
	}
}

func TestRedact(t *testing.T) {
	got := Redact([]string{"-i", "http://minio:9000/b/k.mp4?X-Amz-Signature=secret&X-Amz-Credential=me", "/tmp/a.mp4"})
	if strings.Contains(strings.Join(got, " "), "secret") || got[2] != "/tmp/a.mp4" || !strings.Contains(got[1], "minio:9000/b/k.mp4") {
		t.Fatalf("Redact = %v", got)
	}
}

// TestStderrRedacted: a presigned URL that ffmpeg echoes in its error output
// reaches the error without its signature.
func TestStderrRedacted(t *testing.T) {
	r := New(zerolog.Nop())
	missing := filepath.Join(t.TempDir(), "gone.mp4?X-Amz-Signature=topsecret0123&X-Amz-Credential=AKIDEXAMPLE")
	err := r.Run(context.Background(), []string{"-hide_banner", "-i", missing, "-f", "null", "-"}, nil)
	if err == nil {
		t.Fatal("ffmpeg on a missing input succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "topsecret0123") || strings.Contains(msg, "AKIDEXAMPLE") || !strings.Contains(msg, "<redacted>") {
		t.Fatalf("error %q leaks or loses the redaction", msg)
	}
}

// TestPlaylistAsChunkIsRefused: a playlist served as a media chunk (here by
// the object store's presigned URL, as the renderer reads its inputs) would
// make ffprobe and ffmpeg fetch the URLs inside it, around the fetcher's host
// allow-list. With the format and protocol whitelists they refuse it and no
// request for a URL inside it leaves.
func TestPlaylistAsChunkIsRefused(t *testing.T) {
	r := newRunner(t)
	var inner atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		base := "http://" + req.Host
		switch req.URL.Path {
		case "/hls.mp4":
			_, _ = w.Write([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n" + base + "/seg.ts\n#EXT-X-ENDLIST\n"))
		case "/concat.mp4":
			_, _ = w.Write([]byte("ffconcat version 1.0\nfile '" + base + "/x.mp4'\n"))
		default:
			inner.Add(1)
			http.NotFound(w, req)
		}
	}))
	defer srv.Close()
	for _, name := range []string{"hls.mp4", "concat.mp4"} {
		url := srv.URL + "/" + name
		if _, err := r.Probe(context.Background(), url); err == nil {
			t.Errorf("%s: probe accepted a playlist as media", name)
		}
		if err := r.DecodeCheck(context.Background(), url, nil); err == nil {
			t.Errorf("%s: decode check accepted a playlist as media", name)
		}
	}
	if n := inner.Load(); n != 0 {
		t.Fatalf("ffmpeg/ffprobe made %d requests to URLs inside a fetched file", n)
	}
}

// TestTransient: ffprobe reading a URL whose server answers 503 or refuses
// the connection failed for a moment; a 404 or a file that is not media did
// not.
func TestTransient(t *testing.T) {
	r := newRunner(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/busy.mp4":
			http.Error(w, "slow down", http.StatusServiceUnavailable)
		case "/junk.mp4":
			_, _ = w.Write([]byte("this is not a video"))
		default:
			http.NotFound(w, req)
		}
	}))
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	defer srv.Close()
	for url, want := range map[string]bool{
		srv.URL + "/busy.mp4": true,
		closedURL + "/x.mp4":  true,
		srv.URL + "/gone.mp4": false,
		srv.URL + "/junk.mp4": false,
	} {
		_, err := r.Probe(context.Background(), url)
		if err == nil {
			t.Fatalf("probing %s: no error", url)
		}
		if got := Transient(err); got != want {
			t.Errorf("Transient(probe of %s) = %v, want %v: %v", url, got, want, err)
		}
	}
	if Transient(errors.New("server returned 503")) {
		t.Error("a plain error is not an ffmpeg exit")
	}
}
