package mtstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func mustGet(t *testing.T, url string, wantStatus int, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := get(t, url, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: HTTP %d, want %d: %.200s", url, resp.StatusCode, wantStatus, body)
	}
	return resp, body
}

// webinarIndex finds a webinar by session id.
func webinarIndex(t *testing.T, s *Server, session string) int {
	t.Helper()
	for i, w := range s.Scenario().Webinars {
		if w.EventSessionID.String() == session {
			return i
		}
	}
	t.Fatalf("no webinar %s", session)
	return -1
}

func TestServerFlowEndpoints(t *testing.T) {
	s := startBundled(t, "faults.json")
	// Both spellings; the flow is the document Flow returns.
	_, a := mustGet(t, s.URL+"/api/event-sessions/300901/record-files/400901/flow?withoutCuts=true", 200)
	_, b := mustGet(t, s.URL+"/api/eventsessions/300901/record?withoutCuts=true", 200)
	if !bytes.Equal(a, b) || !bytes.Equal(a, s.Flow(0, true)) {
		t.Fatal("the two endpoints serve different flows")
	}
	// Wrong file id, unknown session: the API's 404 body.
	for _, p := range []string{"/api/event-sessions/300901/record-files/1/flow", "/api/eventsessions/42/record"} {
		resp, body := mustGet(t, s.URL+p, 404)
		if !strings.Contains(string(body), `"code":404`) || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("%s: %s", p, body)
		}
	}
	// Private: 403 with the error body; the cookie or the share token opens it.
	priv := "/api/event-sessions/300906/record-files/400906/flow?withoutCuts=true"
	_, body := mustGet(t, s.URL+priv, 403)
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code != 403 || e.Error.Message == "" {
		t.Fatalf("403 body %s", body)
	}
	cookie := s.Scenario().Webinars[5].SessionCookie
	mustGet(t, s.URL+priv, 200, "Cookie", "sessionId="+cookie)
	mustGet(t, s.URL+priv, 403, "Cookie", "sessionId=other")
	mustGet(t, s.URL+"/api/event-sessions/300912/record-files/400912/flow", 200) // private_status 200 …
	if _, body := mustGet(t, s.URL+"/api/event-sessions/300912/record-files/400912/flow", 200); !strings.Contains(string(body), `"code":403`) {
		t.Fatalf("private_status 200 body %s", body) // … with the 403 body
	}
	tok := "/api/event-sessions/300913/record-files/400913/flow?withoutCuts=true&recordAccessToken="
	mustGet(t, s.URL+tok+"0123456789abcdef0123456789abcdef", 200)
	mustGet(t, s.URL+tok+"ffffffffffffffffffffffffffffffff", 403)
	if u := s.RecordingURL(12); !strings.HasSuffix(u, "/record-new/300913/record-file/400913/0123456789abcdef0123456789abcdef") {
		t.Fatalf("share link %q", u)
	}
	// Other methods and paths.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/eventsessions/300901/record", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	mustGet(t, s.URL+"/1/2009/record-new/300901", 404)
	mustGet(t, s.URL+s.Chunks(0)[0].Path+"/v1/../../etc", 404)

	log := s.Requests()
	if len(log) < 10 || log[0].Path != "/api/event-sessions/300901/record-files/400901/flow" || log[0].Status != 200 ||
		log[0].Query != "withoutCuts=true" || log[0].Bytes != int64(len(a)) || log[0].Time.IsZero() {
		t.Fatalf("request log starts %+v", log[0])
	}
	if s.Hits(priv[:strings.Index(priv, "?")]) != 3 {
		t.Fatalf("hits on the private flow: %d", s.Hits(priv[:strings.Index(priv, "?")]))
	}
	s.ResetLog()
	if len(s.Requests()) != 0 || s.Hits("/api/eventsessions/300901/record") != 0 {
		t.Fatal("ResetLog kept entries")
	}
}

func TestServerRangesAndHead(t *testing.T) {
	s := startBundled(t, "faults.json")
	c := s.Chunks(0)[0]
	resp, full := mustGet(t, c.URL, 200)
	if resp.ContentLength != int64(len(full)) || resp.Header.Get("Content-Type") != "video/mp4" ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("ETag") == "" {
		t.Fatalf("headers %v", resp.Header)
	}
	resp, part := mustGet(t, c.URL, 206, "Range", "bytes=100-1099")
	if !bytes.Equal(part, full[100:1100]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-1099/%d", len(full)) {
		t.Fatalf("range: %d bytes, %q", len(part), resp.Header.Get("Content-Range"))
	}
	_, tail := mustGet(t, c.URL, 206, "Range", fmt.Sprintf("bytes=%d-", len(full)-10))
	if !bytes.Equal(tail, full[len(full)-10:]) {
		t.Fatal("open-ended range")
	}
	// A resumed download with If-Range and the ETag gets the rest.
	mustGet(t, c.URL, 206, "Range", "bytes=10-", "If-Range", resp.Header.Get("ETag"))
	mustGet(t, c.URL, 416, "Range", fmt.Sprintf("bytes=%d-", len(full)+5))
	head, err := http.Head(c.URL)
	if err != nil || head.StatusCode != 200 || head.ContentLength != int64(len(full)) {
		t.Fatalf("HEAD: %v %v", head, err)
	}
	var ranges []string
	for _, r := range s.Requests() {
		ranges = append(ranges, r.Method+" "+r.Range)
	}
	if ranges[1] != "GET bytes=100-1099" || ranges[len(ranges)-1] != "HEAD " {
		t.Fatalf("logged ranges %q", ranges)
	}
}

func TestServerMediaFaults(t *testing.T) {
	s := startBundled(t, "faults.json")
	ctx := context.Background()

	t.Run("corrupt_once", func(t *testing.T) {
		c := s.Chunks(webinarIndex(t, s, "300901"))[1]
		// A HEAD is never faulted and does not use up the fault.
		head, err := http.Head(c.URL)
		if err != nil || head.StatusCode != 200 || head.ContentLength < 10000 {
			t.Fatalf("HEAD: %v %v", head, err)
		}
		if _, err := Probe(ctx, c.URL); err == nil || !strings.Contains(err.Error(), "moov atom not found") {
			t.Fatalf("first probe: %v, want moov atom not found", err)
		}
		p, err := Probe(ctx, c.URL)
		if err != nil || len(p.Streams) != 2 {
			t.Fatalf("second probe: %+v %v", p, err)
		}
		var faults []string
		for _, r := range s.Requests() {
			if r.Path == c.Path {
				faults = append(faults, r.Fault)
			}
		}
		if faults[0] != "" || faults[1] != FaultCorruptOnce || faults[len(faults)-1] != "" {
			t.Fatalf("faults per request %q", faults)
		}
	})

	t.Run("http_500_once", func(t *testing.T) {
		wi := webinarIndex(t, s, "300902")
		c, sl := s.Chunks(wi)[0], s.Slides(wi)[0]
		mustGet(t, c.URL, 500)
		mustGet(t, c.URL, 200)
		mustGet(t, sl.URL, 500)
		_, img := mustGet(t, sl.URL, 200)
		if !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
			t.Fatal("slide is not a JPEG")
		}
	})

	t.Run("http_429_once", func(t *testing.T) {
		c := s.Chunks(webinarIndex(t, s, "300908"))[1]
		resp, _ := mustGet(t, c.URL, 429)
		if resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		mustGet(t, c.URL, 200)
	})

	t.Run("reset_once", func(t *testing.T) {
		c := s.Chunks(webinarIndex(t, s, "300907"))[0]
		resp, body, err := get(t, c.URL)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength <= int64(len(body)) || len(body) == 0 {
			t.Fatalf("first GET: err %v, %d of %d bytes", err, len(body), resp.ContentLength)
		}
		// Resume with a range, as a fetcher does.
		resp2, rest := mustGet(t, c.URL, 206, "Range", fmt.Sprintf("bytes=%d-", len(body)))
		if int64(len(body)+len(rest)) != resp.ContentLength || resp2.Header.Get("ETag") != resp.Header.Get("ETag") {
			t.Fatalf("resume: %d+%d of %d", len(body), len(rest), resp.ContentLength)
		}
		// The aborted request may be logged after the resume (its handler
		// returns when the dropped connection is noticed), so match by Range.
		var got []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			got = got[:0]
			for _, r := range s.Requests() {
				if r.Path == c.Path {
					got = append(got, fmt.Sprintf("range=%t aborted=%t", r.Range != "", r.Aborted))
				}
			}
			if len(got) >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		sort.Strings(got)
		if want := []string{"range=false aborted=true", "range=true aborted=false"}; !slices.Equal(got, want) {
			t.Fatalf("requests %v, want %v", got, want)
		}
	})

	t.Run("slow", func(t *testing.T) {
		c := s.Chunks(webinarIndex(t, s, "300903"))[0]
		if _, err := Probe(ctx, c.URL); err != nil { // generate before timing
			t.Fatal(err)
		}
		start := time.Now()
		_, body := mustGet(t, c.URL, 200)
		// 65536 B/s: a lower bound only (a throttle never runs faster).
		if min := time.Duration(float64(len(body)) / 65536 * 0.9 * float64(time.Second)); time.Since(start) < min {
			t.Fatalf("%d bytes in %v: not throttled (at least %v)", len(body), time.Since(start), min)
		}
		var mine []Request
		for _, r := range s.Requests() {
			if r.Path == c.Path && r.Range == "" && strings.HasPrefix(r.UserAgent, "Go-http-client") {
				mine = append(mine, r)
			}
		}
		if len(mine) != 1 || mine[0].Fault != FaultSlow || mine[0].Bytes != int64(len(body)) {
			t.Fatalf("log %+v", mine)
		}
	})

	t.Run("missing", func(t *testing.T) {
		wi := webinarIndex(t, s, "300904")
		c, sl := s.Chunks(wi)[2], s.Slides(wi)[0]
		if c.Kind != KindAudio {
			t.Fatalf("chunk 2 is %s", c.Kind)
		}
		mustGet(t, c.URL, 404)
		mustGet(t, c.URL, 404)
		mustGet(t, c.HLSURL, 404)
		mustGet(t, sl.URL, 404)
		mustGet(t, s.Chunks(wi)[0].URL, 200) // the others are there
	})

	t.Run("audio_only_direct", func(t *testing.T) {
		c := s.Chunks(webinarIndex(t, s, "300905"))[0]
		if c.DirectVideo || !c.DirectAudio || !c.HLSVideo || !c.HLSAudio {
			t.Fatalf("chunk %+v", c)
		}
		p, err := Probe(ctx, c.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Video(); ok || len(p.Streams) != 1 {
			t.Fatalf("direct mp4 has %+v, want audio only", p.Streams)
		}
		_, pl := mustGet(t, c.HLSURL, 200)
		if !mts.IsPlaylist(pl) || !mts.PlaylistHasVideo(pl) {
			t.Fatalf("playlist does not announce video: %s", pl)
		}
		// The cyberb way: ffmpeg -i playlist -c copy.
		out := filepath.Join(t.TempDir(), "hls.mp4")
		if err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", c.HLSURL, "-c", "copy", out).Run(); err != nil {
			t.Fatal(err)
		}
		p, err = Probe(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := p.Video()
		if _, a := p.Audio(); !ok || !a || v.Width != 320 || p.Duration < 4.9 || p.Duration > 5.2 {
			t.Fatalf("HLS copy: %+v", p)
		}
		col, err := SampleColor(ctx, out, 2, 160, 90)
		if err != nil || col.Distance(MustColor(c.Color)) > 24 {
			t.Fatalf("HLS color %v, want %s: %v", col, c.Color, err)
		}
	})
}

func TestServerHLSVariants(t *testing.T) {
	s := startBundled(t, "edge-cases.json")
	ctx := context.Background()
	chunks := s.Chunks(0)
	byKind := map[string]Chunk{}
	for _, c := range chunks {
		if _, ok := byKind[c.Kind]; !ok {
			byKind[c.Kind] = c
		}
	}
	cam, audio, share := byKind[KindWebcam], byKind[KindAudio], byKind[KindScreenshare]
	_, pl := mustGet(t, cam.HLSURL, 200)
	if !mts.PlaylistHasVideo(pl) || !strings.Contains(string(pl), "RESOLUTION=640x360") {
		t.Fatalf("webcam playlist %s", pl)
	}
	_, pl = mustGet(t, audio.HLSURL, 200)
	if mts.PlaylistHasVideo(pl) || !mts.IsPlaylist(pl) || !strings.Contains(string(pl), "a1/index.m3u8") {
		t.Fatalf("audio playlist %s", pl)
	}
	if share.HLSURL != "" {
		t.Fatal(`"hls": false screenshare has an HLS URL`)
	}
	mustGet(t, mts.HLSURL(share.URL), 404)
	mustGet(t, strings.TrimSuffix(cam.HLSURL, "playlist.m3u8")+"a1/index.m3u8", 404) // no audio-only variant of a webcam
	resp, media := mustGet(t, strings.TrimSuffix(cam.HLSURL, "playlist.m3u8")+"v1/index.m3u8", 200)
	if !strings.Contains(string(media), "#EXT-X-ENDLIST") || !strings.Contains(string(media), "seg000.ts") ||
		resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("media playlist %s", media)
	}
	p, err := Probe(ctx, audio.HLSURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Video(); ok || len(p.Streams) != 1 {
		t.Fatalf("audio HLS streams %+v", p.Streams)
	}
	// The webcam chunk is 23 s: three ~10 s segments.
	if n := strings.Count(string(media), "#EXTINF"); n != 3 {
		t.Fatalf("%d segments in %s", n, media)
	}
}

func TestGenerationIsLazyAndCachedByContent(t *testing.T) {
	dir := t.TempDir()
	sc, err := Bundled("lecture-3h.json")
	if err != nil {
		t.Fatal(err)
	}
	s := StartWith(t, sc, Options{CacheDir: dir})
	mustGet(t, s.URL+"/api/event-sessions/300801/record-files/400801/flow?withoutCuts=true", 200)
	if n := countFiles(t, dir); n != 0 {
		t.Fatalf("serving the flow generated %d files", n)
	}
	// Five clients ask for the same 30-minute screenshare chunk at once:
	// one generation (a 10 s one-GOP tile looped by stream copy), the same
	// bytes for all.
	c := s.Chunks(0)[6]
	if c.Kind != KindScreenshare || c.Duration != 1800 {
		t.Fatalf("chunk 6 is %+v", c)
	}
	var wg sync.WaitGroup
	parts := make([][]byte, 5)
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := get(t, c.URL, "Range", "bytes=100000-100999")
			if err == nil && resp.StatusCode == 206 {
				parts[i] = body
			}
		}()
	}
	wg.Wait()
	for _, p := range parts {
		if len(p) != 1000 || !bytes.Equal(p, parts[0]) {
			t.Fatalf("range answers differ or failed: %d bytes", len(p))
		}
	}
	if n := countFiles(t, dir); n != 2 {
		t.Fatalf("%d files in the cache, want the tile and the chunk", n)
	}
	p, err := Probe(context.Background(), c.URL)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Video()
	if p.Duration != 1800 || v.Frames != 45000 || v.Width != 1920 || len(p.Streams) != 1 {
		t.Fatalf("30-minute chunk: %+v", p)
	}
	// Chunk 7 has the same content: no new file. A second server on the
	// same cache generates nothing either.
	mustGet(t, s.Chunks(0)[7].URL, 206, "Range", "bytes=0-99")
	s2 := StartWith(t, sc, Options{CacheDir: dir})
	mustGet(t, s2.Chunks(0)[6].URL, 206, "Range", "bytes=0-99")
	if n := countFiles(t, dir); n != 2 {
		t.Fatalf("%d files after same-content requests, want 2", n)
	}
	col, err := SampleColor(context.Background(), c.URL, 1500, 960, 540)
	if err != nil || col.Distance(MustColor("#2040d0")) > 24 {
		t.Fatalf("color at 25 min %v: %v", col, err)
	}
}

// TestLongChunkWithAudio checks the long-file path with audio: looped video,
// whole audio, muxed: exact frame count and a tone without loop seams.
func TestLongChunkWithAudio(t *testing.T) {
	sc, err := ParseScenario([]byte(`{"name": "long", "duration": 70, "event_session_id": 9, "record_file_id": 9,
		"participants": [{"id": 1, "role": "ADMIN"}],
		"streams": [{"kind": "webcam", "participant": 1, "width": 160, "height": 90, "color": "#20a020", "tone_hz": 523, "sample_rate": 44100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := StartWith(t, sc, Options{CacheDir: dir})
	c := s.Chunks(0)[0]
	ctx := context.Background()
	p, err := Probe(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Video()
	a, _ := p.Audio()
	if p.Duration < 69.95 || p.Duration > 70.05 || v.Frames != 1750 || v.Width != 160 || a.SampleRate != 44100 {
		t.Fatalf("70 s chunk: %+v", p)
	}
	if n := countFiles(t, dir); n != 4 {
		t.Fatalf("%d cache files, want tile, looped video, audio, muxed", n)
	}
	// Windows across the 10 s tile seams (19–21 s, 59–61 s) and at the end.
	for _, at := range []float64{19, 59, 67} {
		lv, err := ToneLevels(ctx, c.URL, at, 2, 523, 440)
		if err != nil {
			t.Fatal(err)
		}
		if lv[0] < -20 || lv[1] > -50 {
			t.Fatalf("at %vs: 523 Hz %.1f dB, 440 Hz %.1f dB", at, lv[0], lv[1])
		}
	}
	col, err := SampleColor(ctx, c.URL, 65, 80, 45)
	if err != nil || col.Distance(MustColor("#20a020")) > 24 {
		t.Fatalf("color at 65 s %v: %v", col, err)
	}
}

// countFiles counts the regular files and folders at the top of dir,
// failing on leftover temporary folders.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary %s left in the cache", e.Name())
		}
	}
	return len(entries)
}

func TestNewErrors(t *testing.T) {
	sc, _ := ParseScenario([]byte(`{"name": "x", "duration": 1, "event_session_id": 1}`))
	cases := []struct {
		opts Options
		want string
	}{
		{Options{BaseURL: "http://127.0.0.1:1"}, "cache dir"},
		{Options{CacheDir: t.TempDir(), BaseURL: "127.0.0.1:1"}, "base URL"},
		{Options{CacheDir: t.TempDir(), BaseURL: "http://h/x"}, "base URL"},
		{Options{CacheDir: t.TempDir(), BaseURL: "http://h", FFmpeg: "no-such-ffmpeg-here"}, "run scripts/test.sh"},
	}
	for _, c := range cases {
		if _, err := New(sc, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.opts, err, c.want)
		}
	}
	if _, err := New(&Scenario{}, Options{CacheDir: t.TempDir(), BaseURL: "http://h"}); err == nil {
		t.Error("New accepted an empty scenario")
	}
}

func TestServeShutsDown(t *testing.T) {
	s := startBundled(t, "course-5.json")
	if got := len(s.RecordingURLs()); got != 5 {
		t.Fatalf("%d recording URLs", got)
	}
	for i, u := range s.RecordingURLs() {
		rec, err := mts.ParseURL(u, s.URL)
		if err != nil || rec.EventSessionID != fmt.Sprint(301001+i) || rec.RecordFileID != fmt.Sprint(401001+i) {
			t.Fatalf("recording URL %q: %+v %v", u, rec, err)
		}
	}
}

func TestCloseStopsGeneration(t *testing.T) {
	sc, _ := ParseScenario([]byte(`{"name": "x", "duration": 1, "event_session_id": 1}`))
	dir := t.TempDir()
	s, err := New(sc, Options{CacheDir: dir, BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := s.gen.media(context.Background(), mediaSpec{Video: true, Width: 1920, Height: 1080, Color: "#123456", Duration: 60})
		res <- err
	}()
	// Wait until the build has started (its temporary folder exists).
	for deadline := time.Now().Add(30 * time.Second); ; {
		entries, _ := os.ReadDir(dir)
		if len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the build did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	if err := <-res; err == nil {
		t.Fatal("a build canceled by Close reported success")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("cache after Close: %v", entries)
	}
	if _, err := s.gen.slide(context.Background(), "#ffffff"); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("a build after Close: %v", err)
	}
}
