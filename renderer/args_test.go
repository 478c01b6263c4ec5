package renderer

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/proto"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// goldenUnits are one unit per layout (and a mixed one), 1280×720 like a
// job with slides. Sources are described without real media: argv building
// is pure.
func goldenUnits() map[string]proto.RenderUnit {
	cam := func(id string, offset, at, dur float64, audio bool) proto.UnitSource {
		return proto.UnitSource{ID: id, Kind: proto.SourceWebcam, Key: "media/" + id + ".mp4", Offset: offset, At: at,
			Duration: dur, HasVideo: true, HasAudio: audio, Width: 640, Height: 360, SampleRate: 48000}
	}
	screen := proto.UnitSource{ID: "s1", Kind: proto.SourceScreenshare, Key: "media/s1.mp4", Offset: 12.5, At: 0,
		Duration: 60, HasVideo: true, Width: 1920, Height: 1080}
	slide := proto.UnitSource{ID: "slide-1", Kind: proto.SourceSlide, Key: "slides/slide-1.jpg", At: 0, Duration: 60}
	audioOnly := proto.UnitSource{ID: "g7", Kind: proto.SourceAudio, Key: "media/g7.mp4", Offset: 3, At: 10, Duration: 40,
		HasAudio: true, SampleRate: 44100}
	unit := func(dur float64, sources []proto.UnitSource, windows ...proto.UnitWindow) proto.RenderUnit {
		return proto.RenderUnit{Type: proto.TypeRenderUnit, Job: "j1", Index: 3, Generation: 1, Start: 5400, End: 5400 + dur,
			Width: 1280, Height: 720, FPS: 25, Encoding: proto.DefaultEncoding(), Sources: sources, Windows: windows,
			VideoKey: proto.UnitVideoKey("j1", 3, 1), AudioKey: proto.UnitAudioKey("j1", 3, 1)}
	}
	return map[string]proto.RenderUnit{
		"gap": unit(60, nil, proto.UnitWindow{Start: 0, End: 60, Layout: proto.LayoutGap}),
		"single": unit(60, []proto.UnitSource{cam("a1", 1800, 0, 60, true)},
			proto.UnitWindow{Start: 0, End: 60, Layout: proto.LayoutSingle, Main: "a1", Audio: []string{"a1"}}),
		"presenter": unit(60, []proto.UnitSource{screen, cam("a1", 0, 0, 60, true), cam("b2", 7.25, 0, 60, true)},
			proto.UnitWindow{Start: 0, End: 60, Layout: proto.LayoutPresenter, Main: "s1", Pip: "a1", Audio: []string{"a1", "b2"}}),
		"slides": unit(60, []proto.UnitSource{slide, cam("a1", 0, 0, 60, true), cam("b2", 0, 0, 60, false)},
			proto.UnitWindow{Start: 0, End: 60, Layout: proto.LayoutSlides, Slide: "slide-1", Column: []string{"a1", "b2"},
				Audio: []string{"a1"}}),
		"grid": unit(60, []proto.UnitSource{cam("a1", 0, 0, 60, true), cam("b2", 0, 0, 60, true), cam("c3", 30, 0, 60, false),
			cam("d4", 0, 0, 60, true), cam("e5", 0, 0, 60, true)},
			proto.UnitWindow{Start: 0, End: 60, Layout: proto.LayoutGrid, Grid: []string{"a1", "b2", "c3", "d4", "e5"},
				Audio: []string{"a1", "b2", "d4", "e5"}}),
		// Every layout in one unit, sources joining and leaving, a window
		// shorter than half a frame (absorbed), an audio-only source heard
		// in part of the unit, and a source heard only in some windows.
		"mixed": unit(60, []proto.UnitSource{cam("a1", 100, 0, 60, true), cam("b2", 0, 10.5, 49.5, true), screen, slide, audioOnly},
			proto.UnitWindow{Start: 0, End: 10.5, Layout: proto.LayoutSingle, Main: "a1", Audio: []string{"a1"}},
			proto.UnitWindow{Start: 10.5, End: 20, Layout: proto.LayoutGrid, Grid: []string{"a1", "b2"}, Audio: []string{"a1", "b2", "g7"}},
			proto.UnitWindow{Start: 20, End: 20.01, Layout: proto.LayoutGrid, Grid: []string{"a1", "b2"}, Audio: []string{"a1", "b2", "g7"}},
			proto.UnitWindow{Start: 20.01, End: 30, Layout: proto.LayoutPresenter, Main: "s1", Pip: "a1", Audio: []string{"a1", "b2", "g7"}},
			proto.UnitWindow{Start: 30, End: 40, Layout: proto.LayoutSlides, Slide: "slide-1", Column: []string{"a1", "b2"},
				Audio: []string{"a1", "b2", "g7"}},
			proto.UnitWindow{Start: 40, End: 50, Layout: proto.LayoutGap, Audio: []string{"g7"}},
			proto.UnitWindow{Start: 50, End: 60, Layout: proto.LayoutSingle, Main: "b2", Audio: []string{"b2"}}),
	}
}

// goldenURLs: local paths for most sources, a presigned-looking URL for b2.
func goldenURLs() map[string]string {
	return map[string]string{
		"a1":      "/store/objects/media/a1.mp4",
		"b2":      "http://minio:9000/mtsfarm/media/b2.mp4?X-Amz-Signature=abc",
		"c3":      "/store/objects/media/c3.mp4",
		"d4":      "/store/objects/media/d4.mp4",
		"e5":      "/store/objects/media/e5.mp4",
		"s1":      "/store/objects/media/s1.mp4",
		"g7":      "/store/objects/media/g7.mp4",
		"slide-1": "/store/objects/slides/slide-1.jpg",
	}
}

func TestBuildGolden(t *testing.T) {
	modes := []struct {
		name    string
		encoder string
		cuda    bool
	}{{"libx264", EncoderX264, false}, {"nvenc", EncoderNVENC, false}, {"nvenc-cuda", EncoderNVENC, true}}
	for name, u := range goldenUnits() {
		for _, m := range modes {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				c, err := Build(u, goldenURLs(), Options{Encoder: m.encoder, CUDA: m.cuda,
					VideoOut: "/tmp/unit/unit.ts", AudioOut: "/tmp/unit/unit.flac", GraphFile: "/tmp/unit/graph.txt"})
				if err != nil {
					t.Fatal(err)
				}
				got := "# argv\n" + strings.Join(c.Args, "\n") + "\n# graph\n" + c.Graph
				path := filepath.Join("testdata", name+"."+m.name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./renderer -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("argv/graph differ from %s (run go test ./renderer -update after checking the change):\n%s", path, diffLines(string(want), got))
				}
				if c.Frames != 1500 || c.Samples != 60*48000 {
					t.Errorf("frames %d samples %d, want 1500 and %d", c.Frames, c.Samples, 60*48000)
				}
			})
		}
	}
}

// diffLines shows the first differing line of two texts.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n want: " + a + "\n  got: " + b
		}
	}
	return "(same lines)"
}

func TestBuildErrors(t *testing.T) {
	u := goldenUnits()["single"]
	o := Options{Encoder: EncoderX264, VideoOut: "v.ts", AudioOut: "a.flac", GraphFile: "g.txt"}
	bad := u
	bad.Windows = []proto.UnitWindow{{Start: 0, End: 30, Layout: proto.LayoutSingle, Main: "a1"}}
	if _, err := Build(bad, goldenURLs(), o); !errors.Is(err, proto.ErrInvalid) {
		t.Errorf("windows not tiling the unit: got %v, want an error wrapping proto.ErrInvalid", err)
	}
	cases := map[string]Options{
		"cuda with libx264": {Encoder: EncoderX264, CUDA: true, VideoOut: "v.ts", AudioOut: "a.flac", GraphFile: "g.txt"},
		"unknown encoder":   {Encoder: "libx265", VideoOut: "v.ts", AudioOut: "a.flac", GraphFile: "g.txt"},
		"no outputs":        {Encoder: EncoderX264},
	}
	for name, o := range cases {
		if _, err := Build(u, goldenURLs(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	badPreset := u
	badPreset.Encoding.Preset = "warp"
	if _, err := Build(badPreset, goldenURLs(), o); !errors.Is(err, proto.ErrInvalid) || !strings.Contains(err.Error(), "warp") {
		t.Errorf("unknown preset: got %v, want an invalid-message error naming it", err)
	}
	short := u
	short.End = short.Start + 0.01
	short.Windows = []proto.UnitWindow{{Start: 0, End: 0.01, Layout: proto.LayoutGap}}
	if _, err := Build(short, goldenURLs(), o); !errors.Is(err, proto.ErrInvalid) || !strings.Contains(err.Error(), "shorter than one frame") {
		t.Errorf("unit shorter than a frame: got %v", err)
	}
}
