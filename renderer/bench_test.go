package renderer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

// BenchmarkRenderUnit renders a 1280×720 unit of each layout and compares
// the time with the physical floor: one libx264 encode of a lavfi source of
// the same length, size and settings (no decoding, no composing). Metrics:
// x_floor (render wall time / floor wall time, 1.0 is the floor),
// x_floor_cpu (the same in CPU seconds, steadier on a shared machine),
// x_realtime (unit seconds per wall second) and MB_rss (peak memory of the
// ffmpeg process).
//
// The unit lasts 600 s (the 10 minutes); MTSFARM_BENCH_SECONDS
// shortens it on small machines:
//
//	MTSFARM_BENCH_SECONDS=60 go test ./renderer -run '^$' -bench RenderUnit -benchtime 1x
func BenchmarkRenderUnit(b *testing.B) {
	secs := 600.0
	if v := os.Getenv("MTSFARM_BENCH_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 5 {
			b.Fatalf("MTSFARM_BENCH_SECONDS=%q: want a number of seconds ≥ 5", v)
		}
		secs = f
	}
	needFFmpeg(b)
	bm := benchSources(b, secs)
	floor := benchFloor(b, bm, secs)
	b.Logf("unit %gs at 1280x720, floor (one libx264 encode of testsrc2): %.2fs wall, %.2fs CPU", secs, floor.wall.Seconds(), floor.cpu.Seconds())
	for _, layout := range []string{proto.LayoutGap, proto.LayoutSingle, proto.LayoutPresenter, proto.LayoutSlides, proto.LayoutGrid} {
		b.Run(layout, func(b *testing.B) {
			u, urls := benchUnit(bm, layout, secs)
			dir := b.TempDir()
			c, err := Build(u, urls, Options{Encoder: EncoderX264, VideoOut: filepath.Join(dir, "u.ts"),
				AudioOut: filepath.Join(dir, "u.flac"), GraphFile: filepath.Join(dir, "graph.txt")})
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "graph.txt"), []byte(c.Graph), 0o644); err != nil {
				b.Fatal(err)
			}
			var total, cpu time.Duration
			var rss int64
			b.ResetTimer()
			for range b.N {
				u := timeFFmpeg(b, c.Args)
				total += u.wall
				cpu += u.cpu
				rss = max(rss, u.rss)
			}
			b.StopTimer()
			if n := frameCount(b, filepath.Join(dir, "u.ts")); n != c.Frames {
				b.Fatalf("rendered %d frames, want %d", n, c.Frames)
			}
			per := total.Seconds() / float64(b.N)
			b.ReportMetric(per/floor.wall.Seconds(), "x_floor")
			b.ReportMetric(cpu.Seconds()/float64(b.N)/floor.cpu.Seconds(), "x_floor_cpu")
			b.ReportMetric(secs/per, "x_realtime")
			b.ReportMetric(float64(rss)/1024, "MB_rss")
		})
	}
}

// benchMedia are the benchmark's inputs, made once per process (and unit
// length) and removed by TestMain.
type benchMedia struct {
	dir                    string
	cams                   [4]string // 640×360 25 fps moving test pattern with a tone
	screen                 string    // 1920×1080 10 fps screenshare
	slide                  string
	floorOnce, sourcesOnce sync.Once
	floor                  usage
	floorErr, sourcesErr   error
}

var (
	benchMu  sync.Mutex
	benchSet = map[float64]*benchMedia{}
)

func benchSources(b *testing.B, secs float64) *benchMedia {
	benchMu.Lock()
	bm := benchSet[secs]
	if bm == nil {
		bm = &benchMedia{}
		benchSet[secs] = bm
	}
	benchMu.Unlock()
	bm.sourcesOnce.Do(func() {
		bm.dir, bm.sourcesErr = os.MkdirTemp("", "renderer-bench-")
		if bm.sourcesErr != nil {
			return
		}
		d := strconv.FormatFloat(secs, 'f', -1, 64)
		gen := func(out string, args ...string) {
			if bm.sourcesErr == nil {
				cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, append(args, out)...)...)
				if msg, err := cmd.CombinedOutput(); err != nil {
					bm.sourcesErr = fmt.Errorf("making %s: %v: %s", out, err, msg)
				}
			}
		}
		for i := range bm.cams {
			bm.cams[i] = filepath.Join(bm.dir, fmt.Sprintf("cam%d.mp4", i))
			gen(bm.cams[i], "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d="+d, "-f", "lavfi",
				"-i", fmt.Sprintf("sine=f=%d:r=48000:d=%s", 300+100*i, d),
				"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest")
		}
		bm.screen = filepath.Join(bm.dir, "screen.mp4")
		gen(bm.screen, "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=10:d="+d, "-c:v", "libx264", "-preset", "ultrafast", "-g", "100")
		bm.slide = filepath.Join(bm.dir, "slide.jpg")
		gen(bm.slide, "-f", "lavfi", "-i", "testsrc=s=1600x1200", "-frames:v", "1")
	})
	if bm.sourcesErr != nil {
		b.Fatal(bm.sourcesErr)
	}
	return bm
}

// benchFloor times one libx264 encode of a lavfi source at the unit's size,
// rate, length and encoder settings.
func benchFloor(b *testing.B, bm *benchMedia, secs float64) usage {
	bm.floorOnce.Do(func() {
		enc := proto.DefaultEncoding()
		x264, err := encoderArgs(enc, EncoderX264, false)
		if err != nil {
			bm.floorErr = err
			return
		}
		args := []string{"-v", "error", "-f", "lavfi",
			"-i", "testsrc2=s=1280x720:r=25:d=" + strconv.FormatFloat(secs, 'f', -1, 64)}
		args = append(args, x264...)
		args = append(args, "-f", "mpegts", filepath.Join(bm.dir, "floor.ts"))
		bm.floor = timeFFmpeg(b, args)
	})
	if bm.floorErr != nil {
		b.Fatal(bm.floorErr)
	}
	return bm.floor
}

// benchUnit is a unit of one layout over the whole length.
func benchUnit(bm *benchMedia, layout string, secs float64) (proto.RenderUnit, map[string]string) {
	cam := func(i int) proto.UnitSource {
		return proto.UnitSource{ID: fmt.Sprintf("cam%d", i), Kind: proto.SourceWebcam, Key: fmt.Sprintf("media/cam%d.mp4", i),
			Duration: secs, HasVideo: true, HasAudio: true, Width: 640, Height: 360, SampleRate: 48000}
	}
	urls := map[string]string{"screen": bm.screen, "slide": bm.slide}
	for i, p := range bm.cams {
		urls[fmt.Sprintf("cam%d", i)] = p
	}
	w := proto.UnitWindow{Start: 0, End: secs, Layout: layout}
	var sources []proto.UnitSource
	switch layout {
	case proto.LayoutSingle:
		sources = []proto.UnitSource{cam(0)}
		w.Main, w.Audio = "cam0", []string{"cam0"}
	case proto.LayoutPresenter:
		sources = []proto.UnitSource{{ID: "screen", Kind: proto.SourceScreenshare, Key: "media/screen.mp4", Duration: secs,
			HasVideo: true, Width: 1920, Height: 1080}, cam(0)}
		w.Main, w.Pip, w.Audio = "screen", "cam0", []string{"cam0"}
	case proto.LayoutSlides:
		sources = []proto.UnitSource{{ID: "slide", Kind: proto.SourceSlide, Key: "slides/slide.jpg", Duration: secs},
			cam(0), cam(1), cam(2)}
		w.Slide, w.Column, w.Audio = "slide", []string{"cam0", "cam1", "cam2"}, []string{"cam0", "cam1", "cam2"}
	case proto.LayoutGrid:
		sources = []proto.UnitSource{cam(0), cam(1), cam(2), cam(3)}
		w.Grid, w.Audio = []string{"cam0", "cam1", "cam2", "cam3"}, []string{"cam0", "cam1", "cam2", "cam3"}
	}
	enc := proto.DefaultEncoding()
	u := proto.RenderUnit{Type: proto.TypeRenderUnit, Job: "bench", Start: 0, End: secs, Width: 1280, Height: 720, FPS: 25,
		Encoding: enc, Sources: sources, Windows: []proto.UnitWindow{w},
		VideoKey: proto.UnitVideoKey("bench", 0, 0), AudioKey: proto.UnitAudioKey("bench", 0, 0)}
	return u, urls
}

// usage is what one ffmpeg run cost.
type usage struct {
	wall, cpu time.Duration
	rss       int64 // peak, KiB
}

// timeFFmpeg runs ffmpeg with args and measures it.
func timeFFmpeg(b *testing.B, args []string) usage {
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-y"}, args...)...)
	start := time.Now()
	msg, err := cmd.CombinedOutput()
	u := usage{wall: time.Since(start)}
	if err != nil {
		b.Fatalf("ffmpeg: %v: %s", err, msg)
	}
	u.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.rss = ru.Maxrss
	}
	return u
}
