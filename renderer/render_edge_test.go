package renderer

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mtsfarm/mtsfarm/proto"
)

// A unit reads each source from its Offset: the "turn" clip is red/440 Hz
// before 3 s and blue/1320 Hz after.
func TestRenderSeeksIntoSources(t *testing.T) {
	m := media(t)
	const W, H = 640, 360
	late := src("late", proto.SourceWebcam, m.turn, 3.5, 0, 2)
	early := src("early", proto.SourceWebcam, m.turn, 0.5, 0, 2)
	u := testUnit(W, H, 2, []proto.UnitSource{late, early},
		proto.UnitWindow{Start: 0, End: 2, Layout: proto.LayoutGrid, Grid: []string{"late", "early"}, Audio: []string{"late", "early"}})
	out := renderTest(t, u, map[string]string{"late": m.turn.path, "early": m.turn.path})
	red := m.red
	red.path = m.turn.path
	ref := sourceLevels(t, 48000, red)
	blue := m.turn
	pcm := decodePCM(t, m.turn.path, 48000)
	ref[blue.tone] = toneLevel(pcm, 48000, blue.tone, 4, 5)
	cells := u.Windows[0].Rects(W, H)
	checkOutput(t, u, out, ref, []expectWindow{{
		colors: map[proto.Rect][3]int{cells[0]: m.blue.rgb, cells[1]: m.red.rgb},
		tones:  map[float64]bool{440: true, 1320: true},
	}})
}

// A webcam that turns portrait mid-window stays scaled to fit and centred.
func TestRenderResolutionChange(t *testing.T) {
	m := media(t)
	const W, H = 640, 360
	u := testUnit(W, H, 4, []proto.UnitSource{src("cyan", proto.SourceWebcam, m.cyan, 0, 0, 4)},
		proto.UnitWindow{Start: 0, End: 4, Layout: proto.LayoutSingle, Main: "cyan"})
	out := renderTest(t, u, map[string]string{"cyan": m.cyan.path})
	imgs := decodeFrames(t, out.VideoPath, W, H, 25, 75)
	if got := regionColor(imgs[0], W, proto.Rect{W: W, H: H}); !nearColor(got, m.cyan.rgb) {
		t.Errorf("landscape part: frame is %v, want cyan", got)
	}
	// 180×320 fits 640×360 as 202×360 at x = 219.
	if got := regionColor(imgs[1], W, proto.Rect{X: 260, W: 120, H: H}); !nearColor(got, m.cyan.rgb) {
		t.Errorf("portrait part: middle is %v, want cyan", got)
	}
	for _, side := range []proto.Rect{{W: 200, H: H}, {X: 440, W: 200, H: H}} {
		if got := regionColor(imgs[1], W, side); !nearColor(got, [3]int{}) {
			t.Errorf("portrait part: side %+v is %v, want black bars", side, got)
		}
	}
	if n := frameCount(t, out.VideoPath); n != 100 {
		t.Errorf("%d frames, want 100", n)
	}
}

// Missing media never fails a unit: a source without a URL (absent), one
// seeked past its end (spec §5.9), one that starts late and one that ends
// early give black and silence where they have nothing.
func TestRenderMissingMedia(t *testing.T) {
	m := media(t)
	const W, H = 640, 360
	u := testUnit(W, H, 4, []proto.UnitSource{
		src("gone", proto.SourceWebcam, m.green, 0, 0, 4),
		src("past", proto.SourceWebcam, m.red, 10, 0, 4),
		src("late", proto.SourceWebcam, m.yellow, 0, 1, 3),
		src("short", proto.SourceWebcam, m.blue, 0, 0, 4),
	},
		proto.UnitWindow{Start: 0, End: 4, Layout: proto.LayoutGrid, Grid: []string{"gone", "past", "late", "short"},
			Audio: []string{"gone", "past", "late"}})
	u.Encoding.AudioRate = 44100
	out := renderTest(t, u, map[string]string{"past": m.red.path, "late": m.yellow.path, "short": m.blue.path})
	cells := u.Windows[0].Rects(W, H)
	imgs := decodeFrames(t, out.VideoPath, W, H, 12, 37, 75)
	black := [3]int{}
	for i, want := range [][]([3]int){
		{black, black, black, m.blue.rgb},        // 0.5 s: yellow not yet there
		{black, black, m.yellow.rgb, m.blue.rgb}, // 1.5 s
		{black, black, m.yellow.rgb, black},      // 3 s: blue ended at 2 s
	} {
		for c, rgb := range want {
			if got := regionColor(imgs[i], W, cells[c]); !nearColor(got, rgb) {
				t.Errorf("frame %d cell %d (%s): %v, want %v", []int{12, 37, 75}[i], c, cells[c].ID, got, rgb)
			}
		}
	}
	pcm := decodePCM(t, out.AudioPath, 44100)
	if len(pcm) != 4*44100 {
		t.Errorf("audio has %d samples, want %d", len(pcm), 4*44100)
	}
	ref := toneLevel(decodePCM(t, m.yellow.path, 44100), 44100, m.yellow.tone, 0.5, 1.5)
	if lvl := toneLevel(pcm, 44100, m.yellow.tone, 0.1, 0.9); lvl > 0.05*ref {
		t.Errorf("yellow's tone before it starts: %.3f of its level, want silence", lvl/ref)
	}
	if lvl := toneLevel(pcm, 44100, m.yellow.tone, 1.1, 3.9); lvl < 0.8*ref || lvl > 1.25*ref {
		t.Errorf("yellow's tone after it starts: %.3f of its level, want 1", lvl/ref)
	}
	for _, tone := range []float64{m.red.tone, m.green.tone} {
		if lvl := toneLevel(pcm, 44100, tone, 0, 4); lvl > 0.05*ref {
			t.Errorf("%g Hz of a missing source heard at %.3f", tone, lvl/ref)
		}
	}
}

// Memory does not grow with the unit's length: no window's overlays may run
// ahead of its time (a slide reaching every window's overlay at once once
// made each window render itself into memory in advance: gigabytes for a
// 30-minute unit), and a source that joins late must not have its leading
// silence made all at once. A short and a long unit with the same ten
// windows peak at about the same RSS (12 s and 120 s).
func TestRenderMemoryIsBounded(t *testing.T) {
	m := media(t)
	dir := t.TempDir()
	cam := filepath.Join(dir, "cam.mp4")
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=320x180:r=25:d=120", "-f", "lavfi",
		"-i", "sine=f=440:r=48000:d=120", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", cam)
	peak := func(secs float64) int64 {
		step := secs / 10
		var windows []proto.UnitWindow
		for i := range 10 {
			w := proto.UnitWindow{Start: float64(i) * step, End: float64(i+1) * step, Layout: proto.LayoutSlides,
				Slide: "slide", Column: []string{"cam"}, Audio: []string{"cam"}}
			if i%2 == 1 {
				w = proto.UnitWindow{Start: w.Start, End: w.End, Layout: proto.LayoutSingle, Main: "cam"}
			}
			if i >= 5 {
				w.Audio = append(w.Audio, "late")
			}
			windows = append(windows, w)
		}
		u := testUnit(640, 360, secs, []proto.UnitSource{
			src("cam", proto.SourceWebcam, clip{audio: true, w: 320, h: 180}, 0, 0, secs),
			// Joins halfway: heard from then on, never shown.
			src("late", proto.SourceWebcam, clip{audio: true, w: 320, h: 180}, 0, secs/2, secs/2),
			src("slide", proto.SourceSlide, m.slide, 0, 0, secs)}, windows...)
		udir := t.TempDir()
		c, err := Build(u, map[string]string{"cam": cam, "late": cam, "slide": m.slide.path}, Options{Encoder: EncoderX264,
			VideoOut: filepath.Join(udir, "u.ts"), AudioOut: filepath.Join(udir, "u.flac"), GraphFile: filepath.Join(udir, "g.txt")})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(udir, "g.txt"), []byte(c.Graph), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-y"}, c.Args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rendering %gs: %v: %s", secs, err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			t.Fatal("no rusage on this platform")
		}
		return ru.Maxrss / 1024
	}
	short, long := peak(12), peak(120)
	t.Logf("peak RSS: %d MB for 12 s, %d MB for 120 s", short, long)
	// Either leak would add 20 MB (the silence) to 2 GB (the windows).
	if long > short+10 {
		t.Errorf("peak RSS grows with the unit: %d MB for 12 s, %d MB for 120 s", short, long)
	}
}
