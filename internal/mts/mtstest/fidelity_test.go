package mtstest

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// TestFidelity serves bundled scenarios and checks, through the real client
// and ffprobe/ffmpeg over HTTP, that every media URL of the served flow
// probes valid with the duration, size, color and tone the scenario says,
// its HLS variant too, and every slide image has its color.
func TestFidelity(t *testing.T) {
	for _, name := range []string{"lecture-slides.json", "screenshare.json"} {
		t.Run(name, func(t *testing.T) {
			s := startBundled(t, name)
			checkFidelity(t, s, 0)
		})
	}
}

func checkFidelity(t *testing.T, s *Server, wi int) {
	ctx := context.Background()
	w := s.Scenario().Webinars[wi]
	rec, err := mts.ParseURL(s.RecordingURL(wi), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, flow, err := mts.NewClient().FetchFlow(ctx, rec, "")
	if err != nil {
		t.Fatal(err)
	}
	if flow.Name != w.Name || flow.Duration != w.Duration {
		t.Fatalf("flow %q %v", flow.Name, flow.Duration)
	}
	chunks := map[string]Chunk{}
	for _, c := range s.Chunks(wi) {
		chunks[c.URL] = c
	}
	type session struct {
		add   mts.MediaSession
		start float64
		dur   float64
	}
	var sessions []*session
	byID := map[mts.ID]*session{}
	confVideo := map[mts.ID]bool{}
	var slides []mts.Presentation
	var slideAt []float64
	for _, e := range flow.Events {
		switch e.Module {
		case mts.ModuleConferenceAdd:
			for _, c := range e.Conferences() {
				confVideo[c.ID] = c.HasVideo.Or(true)
			}
		case mts.ModuleMediaSessionAdd:
			for _, m := range e.MediaSessions() {
				ss := &session{add: m, start: e.RelativeTime}
				sessions = append(sessions, ss)
				byID[m.ID] = ss
			}
		case mts.ModuleMediaSessionUpdate:
			for _, m := range e.MediaSessions() {
				if ss := byID[m.ID]; ss != nil && m.Duration != nil {
					ss.dur = float64(*m.Duration)
				}
			}
		case mts.ModulePresentationUpdate:
			slides = append(slides, e.Presentations()...)
			slideAt = append(slideAt, e.RelativeTime)
		}
	}
	if len(sessions) != len(chunks) {
		t.Fatalf("%d media sessions in the flow, %d chunks in the scenario", len(sessions), len(chunks))
	}
	covered := map[int]float64{}
	for _, ss := range sessions {
		c, ok := chunks[ss.add.URL]
		if !ok || !strings.HasPrefix(ss.add.URL, s.URL+"/api-storage/files/wowza/") {
			t.Fatalf("flow URL %s is not a chunk of the scenario", ss.add.URL)
		}
		st := w.Streams[c.Stream]
		covered[c.Stream] += ss.dur
		if ss.start != c.Start || ss.dur != c.Duration || ss.dur <= 0 || ss.start < st.Start || ss.start+ss.dur > st.Start+st.Duration+1e-6 {
			t.Fatalf("session %s at %v for %v, chunk %+v", ss.add.ID, ss.start, ss.dur, c)
		}
		if ss.add.IsScreenshare() != (st.Kind == KindScreenshare) {
			t.Fatalf("session %s screenshare flag wrong for a %s", ss.add.ID, st.Kind)
		}
		if !ss.add.IsScreenshare() && confVideo[ss.add.Stream.Conference.ID] != (st.Kind == KindWebcam) {
			t.Fatalf("conference %s hasVideo wrong for a %s", ss.add.Stream.Conference.ID, st.Kind)
		}
		t.Run(st.Kind+"/"+c.SessionID[:6], func(t *testing.T) {
			checkMedia(ctx, t, ss.add.URL, st, ss.dur)
			// The §3.3 HLS variant: announced by v1/ exactly when there is
			// video, and carrying the same content.
			hls := mts.HLSURL(ss.add.URL)
			_, pl := mustGet(t, hls, 200)
			if mts.PlaylistHasVideo(pl) != (st.Kind != KindAudio) {
				t.Fatalf("HLS playlist of a %s: %s", st.Kind, pl)
			}
			checkMedia(ctx, t, hls, st, ss.dur)
		})
	}
	for i, st := range w.Streams {
		if math.Abs(covered[i]-st.Duration) > 1e-6 {
			t.Fatalf("stream %d: chunks cover %v s of %v", i, covered[i], st.Duration)
		}
	}
	// Slides: every change has its image in its color; the last event ends
	// the presentation.
	if len(slides) != len(w.Slides) {
		t.Fatalf("%d presentation updates, %d slides", len(slides), len(w.Slides))
	}
	for i, sl := range w.Slides {
		p := slides[i]
		if slideAt[i] != sl.At || p.Ends() != sl.End {
			t.Fatalf("slide %d at %v ends %v, want %+v", i, slideAt[i], p.Ends(), sl)
		}
		if sl.End {
			continue
		}
		u := p.FileReference.Slide.URL
		if int(p.FileReference.Slide.Number) != sl.Number {
			t.Fatalf("slide %d number %v", i, p.FileReference.Slide.Number)
		}
		pr, err := Probe(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := pr.Video(); !ok || v.Codec != "mjpeg" || v.Width != SlideWidth || v.Height != SlideHeight {
			t.Fatalf("slide %d: %+v", i, pr.Streams)
		}
		points := [][2]int{{640, 360}, {3, 3}, {1270, 710}}
		cols, err := SampleColors(ctx, u, 0, points...)
		if err != nil {
			t.Fatal(err)
		}
		for j, col := range cols {
			if col.Distance(MustColor(sl.Color)) > 12 {
				t.Fatalf("slide %d pixel %v: %v, want %s", i, points[j], col, sl.Color)
			}
		}
	}
}

// checkMedia probes one media file or playlist against its stream.
func checkMedia(ctx context.Context, t *testing.T, u string, st Stream, dur float64) {
	t.Helper()
	p, err := Probe(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.Duration-dur) > 0.05 {
		t.Fatalf("%s: duration %v, want %v", u, p.Duration, dur)
	}
	v, hasV := p.Video()
	a, hasA := p.Audio()
	if hasV != (st.Kind != KindAudio) || hasA != (st.Kind != KindScreenshare) || len(p.Streams) != btoi(hasV)+btoi(hasA) {
		t.Fatalf("%s: streams %+v for a %s", u, p.Streams, st.Kind)
	}
	mid := dur / 2
	if hasV {
		if v.Codec != "h264" || v.Width != st.Width || v.Height != st.Height {
			t.Fatalf("%s: video %+v, want h264 %dx%d", u, v, st.Width, st.Height)
		}
		if v.Frames != 0 && v.Frames != int(math.Round(dur*25)) {
			t.Fatalf("%s: %d frames for %v s at 25 fps", u, v.Frames, dur)
		}
		points := [][2]int{{st.Width / 2, st.Height / 2}, {1, 1}, {st.Width - 2, st.Height - 2}}
		cols, err := SampleColors(ctx, u, mid, points...)
		if err != nil {
			t.Fatal(err)
		}
		for j, col := range cols {
			if col.Distance(MustColor(st.Color)) > 24 {
				t.Fatalf("%s: pixel %v at %.1fs is %v, want %s", u, points[j], mid, col, st.Color)
			}
		}
	}
	if hasA {
		if a.Codec != "aac" || a.SampleRate != st.SampleRate {
			t.Fatalf("%s: audio %+v, want aac at %d", u, a, st.SampleRate)
		}
		off := float64(st.ToneHz)*1.37 + 100
		lv, err := ToneLevels(ctx, u, math.Max(mid-0.5, 0), 1, float64(st.ToneHz), off)
		if err != nil {
			t.Fatal(err)
		}
		if st.ToneHz > 0 && (lv[0] < -22 || lv[0] > -15 || lv[1] > -50) {
			t.Fatalf("%s: %d Hz at %.1f dB (want about -18), %.0f Hz at %.1f dB", u, st.ToneHz, lv[0], off, lv[1])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
