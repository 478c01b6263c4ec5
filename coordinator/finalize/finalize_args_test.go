package finalize

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateFinalize = flag.Bool("update-finalize", false, "rewrite coordinator/finalize/testdata golden files")

// golden compares got with testdata/name (rewritten with
// -update-finalize).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateFinalize {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./coordinator/finalize -run %s -update-finalize to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// argv is one argument per line, for readable golden diffs.
func argv(args []string) string { return strings.Join(args, "\n") + "\n" }

func countInputs(args []string) int {
	n := 0
	for _, a := range args {
		if a == "-i" {
			n++
		}
	}
	return n
}

var stereo48 = audioFormat{Rate: 48000, Channels: 2}

func TestFinalizeArgsGolden(t *testing.T) {
	eight := make([]mixTrack, 8)
	for i := range eight {
		eight[i] = mixTrack{Path: filepath.Join("/w/tracks", string(rune('a'+i))+".m4a"), Start: float64(i) * 61.5}
	}
	cases := []struct {
		name string
		args []string
	}{
		{"batch_one.golden", batchArgs([]mixTrack{{Path: "/w/t0.m4a", Start: 12.25, Offset: 3.5, Duration: 60}},
			stereo48, 600, "/w/batch-000.flac")},
		{"batch_three.golden", batchArgs([]mixTrack{
			{Path: "/w/t0.m4a", Start: 0, Duration: 0},
			{Path: "/w/t 1.mp4", Start: 1.0000004, Offset: 0.1},
			{Path: "/w/t2.webm", Start: 599.99, Duration: 30},
		}, audioFormat{Rate: 44100, Channels: 1}, 600, "/w/batch-001.flac")},
		{"batch_eight.golden", batchArgs(eight, stereo48, 1800, "/w/batch-002.flac")},
		{"reduce.golden", reduceArgs([]string{"/w/batch-000.flac", "/w/batch-001.flac", "/w/batch-002.flac"},
			stereo48, "/w/reduce-1-000.flac")},
		{"mux_fast.golden", muxArgs(muxSpec{VideoList: "/w/video.ffconcat", AudioList: "/w/audio.ffconcat",
			Metadata: "/w/metadata.txt", Audio: stereo48, Bitrate: "128k", Duration: 3601.04, Output: "/out/.x.mp4.partial"})},
		{"mux_mix.golden", muxArgs(muxSpec{VideoList: "/w/video.ffconcat", AudioList: "/w/audio.ffconcat",
			Metadata: "/w/metadata.txt", Mixes: []string{"/w/a.flac", "/w/b.flac", "/w/c.flac", "/w/d.flac", "/w/e.flac"},
			Audio: stereo48, Bitrate: "192k", Duration: 10, Output: "/out/.x.mp4.partial"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name, argv(c.args))
			if n := countInputs(c.args); n > maxInputs {
				t.Errorf("%d inputs, more than %d", n, maxInputs)
			}
		})
	}
}

func TestConcatListGolden(t *testing.T) {
	golden(t, "concat_video.golden", concatList([]string{"/w/units/00000-g1.ts", "/w/it's here/00001-g2.ts"}, nil))
	golden(t, "concat_audio.golden", concatList([]string{"/w/audio/00000-g1.flac", "/w/audio/00001-g1.flac"},
		[]float64{1800, 612.36}))
}

func TestFFMetadataGolden(t *testing.T) {
	golden(t, "metadata.golden", ffmetadata("Webinar = #1; intro\\outro\nday 2", []Chapter{
		{Start: -1, End: 10, Title: "Welcome"},
		{Start: 10, End: 10, Title: ""},     // open end: until the next chapter
		{Start: 42.5, End: 99, Title: "  "}, // blank title: numbered
		{Start: 99, End: 99.0004, Title: "too short once rounded"},
		{Start: 99, End: 200, Title: "Q&A; последний слайд"}, // clipped to the end
		{Start: 130, End: 140, Title: "after the end"},
	}, 120))
	if got := ffmetadata("", nil, 5); got != ";FFMETADATA1\n" {
		t.Errorf("empty metadata = %q", got)
	}
}

func TestGroups(t *testing.T) {
	for _, c := range []struct {
		n, size int
		want    []int
	}{
		{0, 8, nil}, {1, 8, []int{1}}, {8, 8, []int{8}}, {9, 8, []int{5, 4}}, {20, 8, []int{7, 7, 6}},
		{40, 8, []int{8, 8, 8, 8, 8}}, {41, 8, []int{7, 7, 7, 7, 7, 6}}, {5, 2, []int{2, 2, 1}},
	} {
		if got := groups(c.n, c.size); !reflect.DeepEqual(got, c.want) {
			t.Errorf("groups(%d, %d) = %v, want %v", c.n, c.size, got, c.want)
		}
	}
}

func TestFsecs(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 3: "3", 12.5: "12.5", 0.1 + 0.2: "0.3", 1e-7: "0", 1800.000001: "1800.000001"} {
		if got := fsecs(in); got != want {
			t.Errorf("fsecs(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFinalizeInputValidate(t *testing.T) {
	good := Input{Units: []UnitFiles{{Video: "v.ts", Audio: "a.flac"}}, Duration: 5, AudioRate: 48000,
		AudioChannels: 2, AudioBitrate: "128k", FPS: 25, WorkDir: "/tmp/w", Output: "/tmp/o.mp4"}
	if err := good.validate(); err != nil {
		t.Fatalf("a good input: %v", err)
	}
	for name, mod := range map[string]func(*Input){
		"no units":       func(in *Input) { in.Units = nil },
		"unit sans file": func(in *Input) { in.Units = []UnitFiles{{Video: "v.ts"}} },
		"line break":     func(in *Input) { in.Units = []UnitFiles{{Video: "v\n.ts", Audio: "a.flac"}} },
		"zero duration":  func(in *Input) { in.Duration = 0 },
		"fps":            func(in *Input) { in.FPS = 0 },
		"rate":           func(in *Input) { in.AudioRate = 0 },
		"channels":       func(in *Input) { in.AudioChannels = 9 },
		"bitrate":        func(in *Input) { in.AudioBitrate = " " },
		"fan-in":         func(in *Input) { in.FanIn = 9 },
		"work dir":       func(in *Input) { in.WorkDir = "" },
		"output":         func(in *Input) { in.Output = "" },
	} {
		in := good
		mod(&in)
		if err := in.validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// unquoteConcat reads back the paths of a concat list.
func unquoteConcat(list string) []string {
	var out []string
	for _, line := range strings.Split(list, "\n") {
		if q, ok := strings.CutPrefix(line, "file '"); ok {
			out = append(out, strings.ReplaceAll(strings.TrimSuffix(q, "'"), `'\''`, "'"))
		}
	}
	return out
}

func FuzzConcatList(f *testing.F) {
	f.Add("/w/a.ts", "/w/it's/b.ts")
	f.Add("'", "\\'' '")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsAny(a+b, "\r\n") {
			return // rejected by Input.validate
		}
		if got := unquoteConcat(concatList([]string{a, b}, nil)); !reflect.DeepEqual(got, []string{a, b}) {
			t.Fatalf("concat list of %q reads back as %q", []string{a, b}, got)
		}
	})
}

// unescapeMeta undoes metaEscape.
func unescapeMeta(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func FuzzFFMetadata(f *testing.F) {
	f.Add("Webinar = #1; a\\b", "Slide\n2")
	f.Fuzz(func(t *testing.T, title, chapter string) {
		got := ffmetadata(title, []Chapter{{Start: 0, End: 1, Title: chapter}}, 2)
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		flat := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
		want := 6
		if title != "" {
			want++
			if v, ok := strings.CutPrefix(lines[1], "title="); !ok || unescapeMeta(v) != flat.Replace(title) {
				t.Fatalf("title %q written as %q", title, lines[1])
			}
		}
		if len(lines) != want {
			t.Fatalf("%d lines, want %d: %q", len(lines), want, got)
		}
		last := lines[len(lines)-1]
		name := flat.Replace(chapter)
		if strings.TrimSpace(chapter) == "" {
			name = "Slide 1"
		}
		if v, ok := strings.CutPrefix(last, "title="); !ok || unescapeMeta(v) != name {
			t.Fatalf("chapter title %q written as %q", chapter, last)
		}
	})
}
