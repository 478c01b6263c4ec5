package renderer

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/proto"
)

// joinVariant is one renderer configuration a job's units may come from.
type joinVariant struct {
	encoder string
	cuda    bool
	preset  string
	quality int
}

// Units rendered by differently configured renderers join by stream copy
// (concat demuxer → MP4) into a file that decodes without a single error and
// lasts the sum of the units. With a GPU, NVENC units join the same file.
func TestJoinUnitsFromDifferentEncoders(t *testing.T) {
	r := needFFmpeg(t)
	variants := []joinVariant{
		{EncoderX264, false, "ultrafast", 30},
		{EncoderX264, false, "veryfast", 23},
		{EncoderX264, false, "fast", 18},
	}
	caps := r.Detect(context.Background())
	if caps.NVENC {
		variants = append(variants, joinVariant{EncoderNVENC, false, "veryfast", 23})
		if caps.CUDAFilters {
			variants = append(variants, joinVariant{EncoderNVENC, true, "fast", 28})
		}
	} else {
		t.Log("no working NVENC here: joining libx264 units only (scripts/gpu-check.sh covers NVENC)")
	}
	joinVariants(t, variants)
}

// joinVariants renders one 2-second unit per variant, each a different
// layout, joins them and checks the result.
func joinVariants(t *testing.T, variants []joinVariant) {
	t.Helper()
	m := media(t)
	r := needFFmpeg(t)
	const W, H = 640, 360
	dir := t.TempDir()
	layouts := []proto.UnitWindow{
		{Layout: proto.LayoutSingle, Main: "red", Audio: []string{"red"}},
		{Layout: proto.LayoutGrid, Grid: []string{"red", "green"}, Audio: []string{"red", "green"}},
		{Layout: proto.LayoutPresenter, Main: "yellow", Pip: "green", Audio: []string{"green", "yellow"}},
		{Layout: proto.LayoutSlides, Slide: "slide", Column: []string{"red"}, Audio: []string{"red"}},
		{Layout: proto.LayoutGap},
	}
	var videos, audios []string
	for i, v := range variants {
		start := float64(2 * i)
		w := layouts[i%len(layouts)]
		w.Start, w.End = 0, 2
		u := testUnit(W, H, 2, []proto.UnitSource{
			src("red", proto.SourceWebcam, m.red, 1, 0, 2),
			src("green", proto.SourceWebcam, m.green, 2, 0, 2),
			src("yellow", proto.SourceScreenshare, m.yellow, 3, 0, 2),
			src("slide", proto.SourceSlide, m.slide, 0, 0, 2),
		}, w)
		u.Index, u.Start, u.End = i, start, start+2
		u.Encoding.Preset, u.Encoding.Quality = v.preset, v.quality
		udir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(udir, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := RenderFiles(context.Background(), r, u,
			map[string]string{"red": m.red.path, "green": m.green.path, "yellow": m.yellow.path, "slide": m.slide.path},
			v.encoder, v.cuda, udir, nil)
		if err != nil {
			t.Fatalf("unit %d (%+v): %v", i, v, err)
		}
		videos = append(videos, out.VideoPath)
		audios = append(audios, out.AudioPath)
	}
	joined := concatCopy(t, dir, "joined.mp4", videos)
	if err := r.DecodeCheck(context.Background(), joined, nil); err != nil {
		t.Fatalf("the joined video does not decode cleanly: %v", err)
	}
	want := 2 * len(variants)
	if n := frameCount(t, joined); n != want*25 {
		t.Errorf("joined video has %d frames, want %d", n, want*25)
	}
	info, err := r.Probe(context.Background(), joined)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(info.Duration-float64(want)) > 1.0/25+1e-3 {
		t.Errorf("joined video lasts %.3fs, want %ds", info.Duration, want)
	}
	// Every unit's first frame shows its own layout: the join kept order.
	frames := make([]int, len(variants))
	for i := range variants {
		frames[i] = i*50 + 25
	}
	imgs := decodeFrames(t, joined, W, H, frames...)
	for i := range variants {
		w := layouts[i%len(layouts)]
		want := m.red.rgb
		switch w.Layout {
		case proto.LayoutPresenter:
			want = m.yellow.rgb
		case proto.LayoutGap:
			want = [3]int{}
		case proto.LayoutSlides:
			want = m.slide.rgb
		}
		if got := regionColor(imgs[i], W, proto.Rect{W: W / 2, H: H}); !nearColor(got, want) {
			t.Errorf("joined unit %d (%s, %+v): left half is %v, want %v", i, w.Layout, variants[i], got, want)
		}
	}
	// The lossless audio joins sample-exact.
	joinedAudio := concatCopy(t, dir, "joined.flac", audios)
	if n := sampleCount(t, joinedAudio, 48000); n != want*48000 {
		t.Errorf("joined audio has %d samples, want %d", n, want*48000)
	}
}

// concatCopy joins files with the concat demuxer and stream copy, and fails
// on any warning (non-monotonous timestamps at a junction, for one).
func concatCopy(t *testing.T, dir, name string, files []string) string {
	t.Helper()
	var list strings.Builder
	for _, f := range files {
		fmt.Fprintf(&list, "file '%s'\n", f)
	}
	listPath := filepath.Join(dir, name+".txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "warning", "-f", "concat", "-safe", "0", "-i", listPath,
		"-c", "copy", out)
	msg, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(msg))) > 0 {
		t.Fatalf("joining %s by stream copy: err %v, messages:\n%s", name, err, msg)
	}
	return out
}
