package renderer

import (
	"context"
	"testing"

	"github.com/mtsfarm/mtsfarm/proto"
)

// renderTest renders u with libx264 into a temp dir and returns the output.
func renderTest(t *testing.T, u proto.RenderUnit, urls map[string]string) Output {
	t.Helper()
	r := needFFmpeg(t)
	out, err := RenderFiles(context.Background(), r, u, urls, EncoderX264, false, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return out
}

// expectWindow is what a window must look and sound like.
type expectWindow struct {
	colors map[proto.Rect][3]int // rect → colour at its middle
	tones  map[float64]bool      // tone → heard (true) or silent (false)
}

// checkOutput samples the middle frame of every window and the audio of
// every window (away from its edges), and checks the exact lengths.
func checkOutput(t *testing.T, u proto.RenderUnit, out Output, refLevel map[float64]float64, want []expectWindow) {
	t.Helper()
	frames := int(u.Duration()*float64(u.FPS) + 0.5)
	if got := frameCount(t, out.VideoPath); got != frames {
		t.Errorf("video has %d frames, want %d", got, frames)
	}
	rate := u.Encoding.AudioRate
	pcm := decodePCM(t, out.AudioPath, rate)
	if samples := int(u.Duration()*float64(rate) + 0.5); len(pcm) != samples {
		t.Errorf("audio has %d samples, want %d", len(pcm), samples)
	}
	var mids []int
	for _, w := range u.Windows {
		mids = append(mids, int((w.Start+w.End)/2*float64(u.FPS)))
	}
	imgs := decodeFrames(t, out.VideoPath, u.Width, u.Height, mids...)
	for i, w := range u.Windows {
		for r, c := range want[i].colors {
			if got := regionColor(imgs[i], u.Width, r); !nearColor(got, c) {
				t.Errorf("window %d (%s) at frame %d: %+v is %v, want %v", i, w.Layout, mids[i], r, got, c)
			}
		}
		for tone, heard := range want[i].tones {
			lvl := toneLevel(pcm, rate, tone, w.Start+0.1, w.End-0.1)
			ratio := lvl / refLevel[tone]
			switch {
			case heard && (ratio < 0.8 || ratio > 1.25):
				t.Errorf("window %d (%s): %g Hz at %.2f of its source level, want 1 (heard once)", i, w.Layout, tone, ratio)
			case !heard && ratio > 0.05:
				t.Errorf("window %d (%s): %g Hz at %.2f of its source level, want silence", i, w.Layout, tone, ratio)
			}
		}
	}
}

// sourceLevels measures each clip's tone in the clip itself.
func sourceLevels(t *testing.T, rate int, clips ...clip) map[float64]float64 {
	t.Helper()
	lv := map[float64]float64{}
	for _, c := range clips {
		pcm := decodePCM(t, c.path, rate)
		lv[c.tone] = toneLevel(pcm, rate, c.tone, 0.5, 1.5)
		if lv[c.tone] < 0.01 {
			t.Fatalf("clip %s: tone %g at level %g", c.path, c.tone, lv[c.tone])
		}
	}
	return lv
}

func TestRenderEveryLayout(t *testing.T) {
	m := media(t)
	const W, H = 640, 360
	u := testUnit(W, H, 7, []proto.UnitSource{
		src("red", proto.SourceWebcam, m.red, 0, 0, 6),
		src("green", proto.SourceWebcam, m.green, 1, 1, 5),
		// The blue clip lasts 2 s: from unit time 5 it has ended (black).
		src("blue", proto.SourceWebcam, m.blue, 0, 3, 3),
		src("yellow", proto.SourceScreenshare, m.yellow, 2, 2, 1),
		src("slide", proto.SourceSlide, m.slide, 0, 4, 1),
	},
		proto.UnitWindow{Start: 0, End: 1, Layout: proto.LayoutSingle, Main: "red", Audio: []string{"red"}},
		proto.UnitWindow{Start: 1, End: 2, Layout: proto.LayoutGrid, Grid: []string{"red", "green"}, Audio: []string{"red", "green"}},
		proto.UnitWindow{Start: 2, End: 3, Layout: proto.LayoutPresenter, Main: "yellow", Pip: "red", Audio: []string{"red", "green", "yellow"}},
		proto.UnitWindow{Start: 3, End: 4, Layout: proto.LayoutGrid, Grid: []string{"red", "green", "blue"}, Audio: []string{"red", "green"}},
		// Green (placed at 1 s) is shown but not heard here: silent.
		proto.UnitWindow{Start: 4, End: 5, Layout: proto.LayoutSlides, Slide: "slide", Column: []string{"red", "green", "blue"}, Audio: []string{"red"}},
		// Red is still playing but not heard here: it must be silent.
		proto.UnitWindow{Start: 5, End: 6, Layout: proto.LayoutSingle, Main: "blue", Audio: []string{"green"}},
		proto.UnitWindow{Start: 6, End: 7, Layout: proto.LayoutGap},
	)
	urls := map[string]string{"red": m.red.path, "green": m.green.path, "blue": m.blue.path, "yellow": m.yellow.path, "slide": m.slide.path}
	out := renderTest(t, u, urls)
	ref := sourceLevels(t, u.Encoding.AudioRate, m.red, m.green, m.yellow)

	full := proto.Rect{W: W, H: H}
	red, green, blue, yellow, black, magenta := m.red.rgb, m.green.rgb, m.blue.rgb, m.yellow.rgb, [3]int{}, m.slide.rgb
	grid2 := u.Windows[1].Rects(W, H)
	grid3 := u.Windows[3].Rects(W, H)
	slides := u.Windows[4].Rects(W, H)
	pres := u.Windows[2].Rects(W, H)
	tones := func(r, g, y bool) map[float64]bool {
		return map[float64]bool{m.red.tone: r, m.green.tone: g, m.yellow.tone: y}
	}
	checkOutput(t, u, out, ref, []expectWindow{
		{colors: map[proto.Rect][3]int{full: red}, tones: tones(true, false, false)},
		{colors: map[proto.Rect][3]int{grid2[0]: red, grid2[1]: green}, tones: tones(true, true, false)},
		{colors: map[proto.Rect][3]int{{X: 0, Y: 200, W: 400, H: 160}: yellow, pres[1]: red}, tones: tones(true, true, true)},
		{colors: map[proto.Rect][3]int{grid3[0]: red, grid3[1]: green, grid3[2]: blue, {X: 320, Y: 180, W: 320, H: 180}: black},
			tones: tones(true, true, false)},
		{colors: map[proto.Rect][3]int{slides[0]: magenta, slides[1]: red, slides[2]: green, slides[3]: blue,
			{X: 480, Y: 270, W: 160, H: 90}: black}, tones: tones(true, false, false)},
		{colors: map[proto.Rect][3]int{full: black}, tones: tones(false, true, false)},
		{colors: map[proto.Rect][3]int{full: black}, tones: tones(false, false, false)},
	})
}
