package renderer

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// fakeWebinar is a tiny recording of the fake MTS Link: a lecturer's webcam
// all along, a student's webcam (44.1 kHz) from 2 s, a screenshare from 4 s,
// and a slide from 0 s.
const fakeWebinar = `{
  "name": "renderer test", "duration": 8, "org": 1, "event": 2, "event_session_id": 3, "record_file_id": 4,
  "participants": [{"id": 101, "name": "Lecturer", "role": "ADMIN"}, {"id": 202, "name": "Student"}],
  "streams": [
    {"kind": "webcam", "participant": 101, "start": 0, "duration": 8, "width": 640, "height": 360,
     "color": "#d02020", "tone_hz": 440, "sample_rate": 48000},
    {"kind": "webcam", "participant": 202, "start": 2, "duration": 6, "width": 320, "height": 240,
     "color": "#20d020", "tone_hz": 660, "sample_rate": 44100},
    {"kind": "screenshare", "participant": 101, "start": 4, "duration": 4, "width": 1280, "height": 720,
     "color": "#2040d0", "hls": false}
  ],
  "slides": [{"at": 0, "color": "#e0e020"}]
}`

// Units made of the fake server's own media render what the planner's
// layouts promise, measured with the fake server's fidelity helpers.
func TestRenderFakeServerMedia(t *testing.T) {
	needFFmpeg(t)
	sc, err := mtstest.ParseScenario([]byte(fakeWebinar))
	if err != nil {
		t.Fatal(err)
	}
	srv := mtstest.Start(t, sc)
	dir := t.TempDir()
	fetch := func(url, name string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var sources []proto.UnitSource
	urls := map[string]string{}
	ids := map[string]string{} // colour → source id
	for i, c := range srv.Chunks(0) {
		id := "s" + strconv.Itoa(i)
		kind := proto.SourceWebcam
		if c.Kind == mtstest.KindScreenshare {
			kind = proto.SourceScreenshare
		}
		sources = append(sources, proto.UnitSource{ID: id, Kind: kind, Key: "media/" + id + ".mp4", At: c.Start,
			Duration: c.Duration, HasVideo: c.DirectVideo, HasAudio: c.DirectAudio && c.ToneHz > 0,
			Width: c.Width, Height: c.Height, SampleRate: c.SampleRate})
		urls[id] = fetch(c.URL, id+".mp4")
		ids[c.Color] = id
	}
	slide := srv.Slides(0)[0]
	sources = append(sources, proto.UnitSource{ID: "slide", Kind: proto.SourceSlide, Key: "slides/slide.jpg", Duration: 8})
	urls["slide"] = fetch(slide.URL, "slide.img")
	lecturer, student, screen := ids["#d02020"], ids["#20d020"], ids["#2040d0"]
	if lecturer == "" || student == "" || screen == "" {
		t.Fatalf("chunks %+v: want the three streams", srv.Chunks(0))
	}
	const W, H = 1280, 720
	u := testUnit(W, H, 8, sources,
		proto.UnitWindow{Start: 0, End: 2, Layout: proto.LayoutSlides, Slide: "slide", Column: []string{lecturer}, Audio: []string{lecturer}},
		proto.UnitWindow{Start: 2, End: 4, Layout: proto.LayoutSlides, Slide: "slide", Column: []string{lecturer, student},
			Audio: []string{lecturer, student}},
		proto.UnitWindow{Start: 4, End: 8, Layout: proto.LayoutPresenter, Main: screen, Pip: lecturer,
			Audio: []string{lecturer, student}},
	)
	out := renderTest(t, u, urls)
	// MPEG-TS has no index, so seeking in it (as the measuring helpers do)
	// can land on a later keyframe: measure a stream copy in MP4, which is
	// what the finished output is anyway.
	video := filepath.Join(dir, "unit.mp4")
	run(t, "ffmpeg", "-v", "error", "-i", out.VideoPath, "-c", "copy", video)

	ctx := context.Background()
	centre := func(r proto.Rect) [2]int { return [2]int{r.X + r.W/2, r.Y + r.H/2} }
	for i, at := range []float64{1, 3, 6} {
		w := u.Windows[i]
		var pts [][2]int
		var want []mtstest.RGB
		for _, r := range w.Rects(W, H) {
			p := centre(r)
			if r.Role == proto.RectMain {
				p = [2]int{W / 4, H * 3 / 4} // away from the PIP
			}
			pts = append(pts, p)
			switch r.ID {
			case "slide":
				want = append(want, mtstest.MustColor(slide.Color))
			case lecturer:
				want = append(want, mtstest.MustColor("#d02020"))
			case student:
				want = append(want, mtstest.MustColor("#20d020"))
			case screen:
				want = append(want, mtstest.MustColor("#2040d0"))
			}
		}
		got, err := mtstest.SampleColors(ctx, video, at, pts...)
		if err != nil {
			t.Fatal(err)
		}
		for k := range pts {
			if got[k].Distance(want[k]) > 24 {
				t.Errorf("t=%gs (%s) at %v: %v, want %v", at, w.Layout, pts[k], got[k], want[k])
			}
		}
	}
	// The lecturer is heard throughout, the student from 2 s, each once
	// (-18 dBFS is the fake server's tone level; twice would be -12).
	for _, c := range []struct {
		start  float64
		levels map[float64]bool
	}{{0.2, map[float64]bool{440: true, 660: false}}, {2.2, map[float64]bool{440: true, 660: true}},
		{4.5, map[float64]bool{440: true, 660: true}}} {
		for hz, heard := range c.levels {
			lvl, err := mtstest.ToneLevel(ctx, out.AudioPath, c.start, 1.5, hz)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case heard && (lvl < -21 || lvl > -15):
				t.Errorf("%g Hz at %gs: %.1f dBFS, want about -18 (heard once)", hz, c.start, lvl)
			case !heard && lvl > -50:
				t.Errorf("%g Hz at %gs: %.1f dBFS, want silence", hz, c.start, lvl)
			}
		}
	}
}
