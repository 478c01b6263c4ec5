//go:build gpu

package renderer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

// TestGPU is scripts/gpu-check.sh: on a machine with an NVIDIA GPU it renders
// one 1280×720 unit with every layout three ways (h264_nvenc with CUDA
// decode/scale/overlay, h264_nvenc with CPU filters, libx264), checks each
// output (length, pixels of every window, a clean decode), joins the three by
// stream copy and checks the join, and prints the speed of each.
// MTSFARM_GPU_SECONDS sets the unit length (default 60).
func TestGPU(t *testing.T) {
	secs := 60.0
	if v := os.Getenv("MTSFARM_GPU_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 5 {
			t.Fatalf("MTSFARM_GPU_SECONDS=%q: want a number of seconds ≥ 5", v)
		}
		secs = f
	}
	r := needFFmpeg(t)
	caps := r.Detect(context.Background())
	fmt.Printf("gpu-check: ffmpeg capabilities: nvenc=%v cuda_filters=%v gpu=%q encoders=%v\n", caps.NVENC, caps.CUDAFilters, caps.GPU, caps.Encoders)
	if !caps.NVENC {
		t.Fatal("a test encode with h264_nvenc failed: no usable NVIDIA GPU, driver or NVENC-enabled ffmpeg here")
	}
	dir := t.TempDir()
	u, urls := gpuUnit(t, dir, secs)
	const W, H = 1280, 720
	variants := []struct {
		name    string
		encoder string
		cuda    bool
	}{{"h264_nvenc+cuda", EncoderNVENC, true}, {"h264_nvenc", EncoderNVENC, false}, {"libx264", EncoderX264, false}}
	var joined []string
	speeds := map[string]string{}
	for _, v := range variants {
		ok := t.Run(v.name, func(t *testing.T) {
			vdir := filepath.Join(dir, v.name)
			if err := os.MkdirAll(vdir, 0o755); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, err := RenderFiles(context.Background(), r, u, urls, v.encoder, v.cuda, vdir, nil)
			if err != nil {
				if v.cuda && !caps.CUDAFilters {
					t.Fatalf("%v (ffmpeg's CUDA filters did not pass detection either; the worker falls back to CPU filters)", err)
				}
				t.Fatal(err)
			}
			el := time.Since(start)
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
			speeds[v.name] = fmt.Sprintf("%.2fs for %gs of 1280x720 = %.1fx realtime (peak RSS of any ffmpeg so far: %d MB)",
				el.Seconds(), secs, secs/el.Seconds(), ru.Maxrss/1024)
			if err := r.DecodeCheck(context.Background(), out.VideoPath, nil); err != nil {
				t.Fatalf("decoding the %s unit: %v", v.name, err)
			}
			if n := frameCount(t, out.VideoPath); n != int(secs*25+0.5) {
				t.Errorf("%d frames, want %d", n, int(secs*25+0.5))
			}
			checkGPUWindows(t, u, out.VideoPath, W, H)
			joined = append(joined, out.VideoPath)
		})
		if !ok {
			speeds[v.name] = "FAILED"
		}
	}
	if len(joined) > 1 {
		t.Run("join", func(t *testing.T) {
			j := concatCopy(t, dir, "joined.mp4", joined)
			if err := r.DecodeCheck(context.Background(), j, nil); err != nil {
				t.Fatalf("the joined units do not decode cleanly: %v", err)
			}
			if n, want := frameCount(t, j), len(joined)*int(secs*25+0.5); n != want {
				t.Errorf("joined video has %d frames, want %d", n, want)
			}
		})
	}
	for _, v := range variants {
		fmt.Printf("gpu-check: %-16s %s\n", v.name, speeds[v.name])
	}
}

// gpuUnit is a unit of secs seconds with five windows: single, presenter,
// grid, slides, gap. Sources are solid colours with a moving test pattern in
// one corner (so the encoders have real work) and a tone each.
func gpuUnit(t *testing.T, dir string, secs float64) (proto.RenderUnit, map[string]string) {
	d := strconv.FormatFloat(secs, 'f', -1, 64)
	clipOf := func(name, color string, w, h, fps int, tone int) string {
		path := filepath.Join(dir, name+".mp4")
		graph := fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%s[bg];testsrc2=s=%dx%d:r=%d:d=%s[t];[bg][t]overlay=W-w:H-h[v]",
			color, w, h, fps, d, w/4, h/4, fps, d)
		args := []string{"-v", "error", "-y"}
		if tone > 0 {
			args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=f=%d:r=48000:d=%s", tone, d))
		}
		args = append(args, "-filter_complex", graph, "-map", "[v]")
		if tone > 0 {
			args = append(args, "-map", "0:a", "-c:a", "aac")
		}
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", path)
		run(t, "ffmpeg", args...)
		return path
	}
	urls := map[string]string{
		"red":    clipOf("red", "red", 640, 360, 25, 440),
		"green":  clipOf("green", "lime", 640, 360, 30, 660),
		"blue":   clipOf("blue", "blue", 640, 480, 25, 0),
		"yellow": clipOf("yellow", "yellow", 1920, 1080, 10, 0),
	}
	urls["slide"] = filepath.Join(dir, "slide.png")
	run(t, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=magenta:s=1600x1200", "-frames:v", "1", urls["slide"])
	cam := func(id string, kind string, audio bool) proto.UnitSource {
		return proto.UnitSource{ID: id, Kind: kind, Key: "media/" + id + ".mp4", Duration: secs, HasVideo: true, HasAudio: audio}
	}
	step := secs / 5
	win := func(i int, w proto.UnitWindow) proto.UnitWindow {
		w.Start, w.End = float64(i)*step, float64(i+1)*step
		if i == 4 {
			w.End = secs
		}
		return w
	}
	u := testUnit(1280, 720, secs, []proto.UnitSource{
		cam("red", proto.SourceWebcam, true), cam("green", proto.SourceWebcam, true), cam("blue", proto.SourceWebcam, false),
		cam("yellow", proto.SourceScreenshare, false),
		{ID: "slide", Kind: proto.SourceSlide, Key: "slides/slide.png", Duration: secs},
	},
		win(0, proto.UnitWindow{Layout: proto.LayoutSingle, Main: "red", Audio: []string{"red"}}),
		win(1, proto.UnitWindow{Layout: proto.LayoutPresenter, Main: "yellow", Pip: "red", Audio: []string{"red", "green"}}),
		win(2, proto.UnitWindow{Layout: proto.LayoutGrid, Grid: []string{"red", "green", "blue"}, Audio: []string{"red", "green"}}),
		win(3, proto.UnitWindow{Layout: proto.LayoutSlides, Slide: "slide", Column: []string{"red", "green", "blue"}, Audio: []string{"red"}}),
		win(4, proto.UnitWindow{Layout: proto.LayoutGap}),
	)
	u.Encoding = proto.DefaultEncoding()
	return u, urls
}

// checkGPUWindows samples the middle frame of every window of gpuUnit.
func checkGPUWindows(t *testing.T, u proto.RenderUnit, video string, w, h int) {
	t.Helper()
	var mids []int
	for _, win := range u.Windows {
		mids = append(mids, int((win.Start+win.End)/2*25))
	}
	imgs := decodeFrames(t, video, w, h, mids...)
	colors := map[string][3]int{"red": rgbOf("red"), "green": rgbOf("lime"), "blue": rgbOf("blue"),
		"yellow": rgbOf("yellow"), "slide": rgbOf("magenta")}
	for i, win := range u.Windows {
		rects := win.Rects(w, h)
		if win.Layout == proto.LayoutGap {
			rects = []proto.Rect{{ID: "", W: w, H: h}}
		}
		for _, r := range rects {
			want := colors[r.ID]
			if r.Role == proto.RectMain && win.Pip != "" {
				r = proto.Rect{ID: r.ID, Y: h / 2, W: w / 2, H: h / 2} // away from the PIP
			}
			if got := regionColor(imgs[i], w, r); !nearColor(got, want) {
				t.Errorf("window %d (%s) %s at %+v: %v, want %v", i, win.Layout, r.ID, r, got, want)
			}
		}
	}
}
