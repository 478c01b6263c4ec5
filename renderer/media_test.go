package renderer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Test media: tiny lavfi clips, each a distinct solid colour and tone, made
// once per test binary.
type clip struct {
	path  string
	rgb   [3]int
	tone  float64 // Hz; 0 when the clip has no audio
	rate  int     // audio sample rate
	w, h  int
	secs  float64
	audio bool
}

type testMedia struct {
	red, green, blue, yellow, cyan, slide clip
	// turn is red with 440 Hz for 3 s, then blue with 1320 Hz for 3 s:
	// what a unit shows and hears of it proves where it was seeked.
	turn clip
}

var (
	mediaOnce sync.Once
	mediaDir  string
	mediaSet  testMedia
	mediaErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mediaDir != "" {
		os.RemoveAll(mediaDir)
	}
	for _, bm := range benchSet {
		if bm.dir != "" {
			os.RemoveAll(bm.dir)
		}
	}
	os.Exit(code)
}

func needFFmpeg(t testing.TB) *ffmpeg.Runner {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not found on PATH: run scripts/test.sh, which installs it", p)
		}
	}
	return ffmpeg.New(zerolog.Nop())
}

// media returns the shared test clips.
func media(t testing.TB) testMedia {
	t.Helper()
	r := needFFmpeg(t)
	mediaOnce.Do(func() {
		mediaDir, mediaErr = os.MkdirTemp("", "renderer-media-")
		if mediaErr != nil {
			return
		}
		mediaSet, mediaErr = makeMedia(r, mediaDir)
	})
	if mediaErr != nil {
		t.Fatalf("making test media: %v", mediaErr)
	}
	return mediaSet
}

func makeMedia(r *ffmpeg.Runner, dir string) (testMedia, error) {
	ctx := context.Background()
	av := func(name, color string, w, h, fps int, secs float64, tone float64, rate int) (clip, error) {
		c := clip{path: filepath.Join(dir, name), rgb: rgbOf(color), tone: tone, rate: rate, w: w, h: h, secs: secs, audio: tone > 0}
		args := []string{"-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%g", color, w, h, fps, secs)}
		if c.audio {
			args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=f=%g:r=%d:d=%g", tone, rate, secs))
		}
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p")
		if c.audio {
			args = append(args, "-c:a", "aac", "-ac", "2", "-shortest")
		}
		return c, r.Run(ctx, append(args, c.path), nil)
	}
	var m testMedia
	var err error
	if m.red, err = av("red.mp4", "red", 320, 180, 25, 6, 440, 48000); err != nil {
		return m, err
	}
	// 4:3, 30 fps, 44.1 kHz: scaled into 16:9 boxes with black bars, and
	// resampled.
	if m.green, err = av("green.mp4", "lime", 240, 180, 30, 6, 660, 44100); err != nil {
		return m, err
	}
	// Ends early, no audio.
	if m.blue, err = av("blue.mp4", "blue", 320, 180, 25, 2, 0, 0); err != nil {
		return m, err
	}
	// A screenshare at 10 fps, with a tone.
	if m.yellow, err = av("yellow.mp4", "yellow", 640, 360, 10, 6, 880, 48000); err != nil {
		return m, err
	}
	// A webcam that turns from landscape to portrait after 2 s (resolution
	// change mid-stream).
	m.cyan = clip{path: filepath.Join(dir, "cyan.mp4"), rgb: rgbOf("cyan"), w: 320, h: 180, secs: 4}
	parts := []string{filepath.Join(dir, "cyan1.ts"), filepath.Join(dir, "cyan2.ts")}
	for i, size := range []string{"320x180", "180x320"} {
		if err := r.Run(ctx, []string{"-v", "error", "-f", "lavfi", "-i", "color=c=cyan:s=" + size + ":r=25:d=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", parts[i]}, nil); err != nil {
			return m, err
		}
	}
	if err := r.Run(ctx, []string{"-v", "error", "-i", "concat:" + parts[0] + "|" + parts[1], "-c", "copy", m.cyan.path}, nil); err != nil {
		return m, err
	}
	m.turn = clip{path: filepath.Join(dir, "turn.mp4"), rgb: rgbOf("blue"), tone: 1320, rate: 48000, w: 320, h: 180, secs: 6, audio: true}
	if err := r.Run(ctx, []string{"-v", "error",
		"-f", "lavfi", "-i", "color=c=red:s=320x180:r=25:d=3", "-f", "lavfi", "-i", "color=c=blue:s=320x180:r=25:d=3",
		"-f", "lavfi", "-i", "sine=f=440:r=48000:d=3", "-f", "lavfi", "-i", "sine=f=1320:r=48000:d=3",
		"-filter_complex", "[0:v][2:a][1:v][3:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", m.turn.path}, nil); err != nil {
		return m, err
	}
	m.slide = clip{path: filepath.Join(dir, "slide.png"), rgb: rgbOf("magenta"), w: 400, h: 300}
	if err := r.Run(ctx, []string{"-v", "error", "-f", "lavfi", "-i", "color=c=magenta:s=400x300",
		"-frames:v", "1", m.slide.path}, nil); err != nil {
		return m, err
	}
	return m, nil
}

func rgbOf(name string) [3]int {
	switch name {
	case "red":
		return [3]int{255, 0, 0}
	case "lime":
		return [3]int{0, 255, 0}
	case "blue":
		return [3]int{0, 0, 255}
	case "yellow":
		return [3]int{255, 255, 0}
	case "cyan":
		return [3]int{0, 255, 255}
	case "magenta":
		return [3]int{255, 0, 255}
	case "white":
		return [3]int{255, 255, 255}
	}
	return [3]int{0, 0, 0}
}

// Helpers that describe units compactly.

func src(id, kind string, c clip, offset, at, dur float64) proto.UnitSource {
	s := proto.UnitSource{ID: id, Kind: kind, Key: "media/" + id + ".mp4", Offset: offset, At: at, Duration: dur,
		HasVideo: kind != proto.SourceSlide && kind != proto.SourceAudio, HasAudio: c.audio, Width: c.w, Height: c.h,
		SampleRate: c.rate}
	if kind == proto.SourceSlide {
		s.Key = "slides/" + id + ".png"
	}
	return s
}

func testUnit(w, h int, dur float64, sources []proto.UnitSource, windows ...proto.UnitWindow) proto.RenderUnit {
	enc := proto.DefaultEncoding()
	enc.Preset = "ultrafast"
	return proto.RenderUnit{Type: proto.TypeRenderUnit, Job: "j1", Index: 0, Start: 0, End: dur,
		Width: w, Height: h, FPS: 25, Encoding: enc, Sources: sources, Windows: windows,
		VideoKey: proto.UnitVideoKey("j1", 0, 0), AudioKey: proto.UnitAudioKey("j1", 0, 0)}
}
