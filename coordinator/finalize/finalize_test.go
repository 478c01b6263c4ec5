package finalize

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

// progressLog records Run's progress calls.
type progressLog struct {
	mu    sync.Mutex
	calls []string
	bad   []string
}

func (p *progressLog) fn(stage string, f float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !(f >= 0 && f <= 1) {
		p.bad = append(p.bad, fmt.Sprintf("%s=%v", stage, f))
	}
	if n := len(p.calls); n == 0 || p.calls[n-1] != stage {
		p.calls = append(p.calls, stage)
	}
}

func baseInput(units []UnitFiles, dur float64, dir string) Input {
	return Input{Units: units, Duration: dur, AudioRate: 48000, AudioChannels: 2, AudioBitrate: "128k",
		FPS: 25, WorkDir: filepath.Join(dir, "work"), Output: filepath.Join(dir, "out", "final.mp4")}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		t.Errorf("%s is not empty: %v", dir, names)
	}
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// checkDurations asserts both streams of path are dur long (±1 frame).
func checkDurations(t *testing.T, in Input, path string) {
	t.Helper()
	r := newFFmpeg(t)
	v, a, err := r.StreamDurations(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	tol := 1/float64(in.FPS) + 1e-3
	if !within(v, in.Duration, tol) || !within(a, in.Duration, tol) {
		t.Errorf("video %.4f s, audio %.4f s; want %.4f s (±1 frame)", v, a, in.Duration)
	}
}

// TestFinalizeTracks joins two units encoded with different x264 presets,
// mixes 20 audio-only tracks of assorted formats at known offsets and skips
// two broken ones, then checks everything a viewer would notice.
func TestFinalizeTracks(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	units := []UnitFiles{
		makeUnit(t, r, dir, "u0", unitSpec{secs: 3, color: "red", freq: 440, preset: "ultrafast"}),
		makeUnit(t, r, dir, "u1", unitSpec{secs: 2, color: "blue", freq: 660, preset: "medium"}),
	}
	in := baseInput(units, 5, dir)
	in.Title = "Finalize test — «quotes» & ; = #"
	in.Chapters = []Chapter{{0, 2, "Intro"}, {2, 4, "Slide = two"}, {4, 5, "Конец"}}

	good, infos := toneTracks(t, r, dir)
	in.Tracks = append(in.Tracks, good...)
	in.Tracks = append(in.Tracks, brokenTracks(t, r, dir)...)

	var prog progressLog
	res, err := Run(context.Background(), r, in, prog.fn)
	if err != nil {
		t.Fatalf("Finalize: %v (warnings %q)", err, res.Warnings)
	}

	// Warnings: exactly the two broken tracks, each named.
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "audio track 20 (garbage.m4a)") ||
		!strings.Contains(res.Warnings[1], "audio track 21 (unknown.wav) skipped: decoding it failed") {
		t.Errorf("warnings %q, want one for track 20 and one for track 21", res.Warnings)
	}
	if res.Mixed != 21 {
		t.Errorf("mixed %d tracks, want 21", res.Mixed)
	}
	if !slices.Equal(prog.calls, []string{"probe", "mix", "mux", "check"}) || len(prog.bad) > 0 {
		t.Errorf("progress stages %v (out of range: %v)", prog.calls, prog.bad)
	}
	assertEmptyDir(t, in.WorkDir)
	if entries, _ := os.ReadDir(filepath.Dir(in.Output)); len(entries) != 1 {
		t.Errorf("output directory holds %d entries, want only the output", len(entries))
	}

	checkTracksOutput(t, r, in, res)
	checkTracksSound(t, r, in, units, infos)
}

// trackInfo is what TestFinalizeTracks expects of one tone track.
type trackInfo struct {
	freq  float64
	start float64
	gain  float64 // expected output level over the source level
	src   float64 // source level
}

// toneTracks makes 20 tracks of assorted formats. Track i: 0.3 s of
// silence, then 1.2 s of tone; the job hears 0.8 s of it from Offset 0.3,
// at Start 0.2·i. A wrong offset or a missing -t
// shows as tone where there should be none.
func toneTracks(t *testing.T, r *ffmpeg.Runner, dir string) ([]AudioTrackFile, []trackInfo) {
	t.Helper()
	var tracks []AudioTrackFile
	var infos []trackInfo
	for i := 0; i < 20; i++ {
		freq := 800 + 100*i
		var path string
		gain := 1.0
		switch i % 4 {
		case 0:
			path = filepath.Join(dir, fmt.Sprintf("t%02d.m4a", i))
			toneFile(t, r, path, freq, 0.3, 1.2, 44100, 2, "-c:a", "aac")
		case 1: // mono: upmixed to both channels at its own level (as the renderer does)
			path = filepath.Join(dir, fmt.Sprintf("t%02d.flac", i))
			toneFile(t, r, path, freq, 0.3, 1.2, 48000, 1, "-c:a", "flac")
		case 2:
			path = filepath.Join(dir, fmt.Sprintf("t%02d.mp3", i))
			toneFile(t, r, path, freq, 0.3, 1.2, 44100, 2, "-c:a", "libmp3lame", "-b:a", "128k")
		case 3:
			path = filepath.Join(dir, fmt.Sprintf("t%02d.wav", i))
			toneFile(t, r, path, freq, 0.3, 1.2, 32000, 2, "-c:a", "pcm_s16le")
		}
		start := 0.2 * float64(i)
		tracks = append(tracks, AudioTrackFile{Path: path, Start: start, Offset: 0.3, Duration: 0.8})
		src := decodePCM(t, r, path).tone(float64(freq), 0.45, 0.9)
		if src < 0.05 {
			t.Fatalf("track %d source level %v: test media broken", i, src)
		}
		infos = append(infos, trackInfo{float64(freq), start, gain, src})
	}
	return tracks, infos
}

// brokenTracks makes tracks 20 to 22. Track 20: not media at all (fails its
// probe). Track 21: a WAV of an
// unknown codec: it probes, but ffmpeg cannot decode it, so its batch
// fails and is split until the track is alone. Track 22: a FLAC whose
// second half is garbage: ffmpeg decodes what it can and the batch
// succeeds.
func brokenTracks(t *testing.T, r *ffmpeg.Runner, dir string) []AudioTrackFile {
	t.Helper()
	garbage := filepath.Join(dir, "garbage.m4a")
	os.WriteFile(garbage, []byte(strings.Repeat("not audio ", 500)), 0o644)
	unknown := filepath.Join(dir, "unknown.wav")
	writeUnknownWAV(t, unknown, 48000, 2, 2)
	corrupt := filepath.Join(dir, "corrupt.flac")
	toneFile(t, r, corrupt, 3500, 0, 2, 48000, 2, "-c:a", "flac")
	data, _ := os.ReadFile(corrupt)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := len(data) / 2; i < len(data); i++ {
		data[i] = byte(rng.Uint32())
	}
	os.WriteFile(corrupt, data, 0o644)
	return []AudioTrackFile{{Path: garbage, Start: 1}, {Path: unknown, Start: 0.5}, {Path: corrupt, Start: 0.5}}
}

// checkTracksOutput checks TestFinalizeTracks' file: it decodes cleanly, has
// exact lengths, AAC once, title, chapters, faststart and the units'
// pictures in order.
func checkTracksOutput(t *testing.T, r *ffmpeg.Runner, in Input, res Result) {
	t.Helper()
	if err := r.DecodeCheck(context.Background(), in.Output, nil); err != nil {
		t.Errorf("decode: %v", err)
	}
	checkDurations(t, in, in.Output)
	if !res.Media.HasVideo || !res.Media.HasAudio || res.Media.AudioCodec != "aac" || res.Media.SampleRate != 48000 ||
		res.Media.Width != 320 || res.Media.VideoCodec != "h264" {
		t.Errorf("media %+v", res.Media)
	}
	p, err := mtstest.Probe(context.Background(), in.Output)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tags["title"] != in.Title {
		t.Errorf("title tag %q, want %q", p.Tags["title"], in.Title)
	}
	if len(p.Chapters) != 3 {
		t.Fatalf("%d chapters, want 3", len(p.Chapters))
	}
	for i, c := range p.Chapters {
		if c.Title != in.Chapters[i].Title || !within(c.Start, in.Chapters[i].Start, 0.001) || !within(c.End, in.Chapters[i].End, 0.001) {
			t.Errorf("chapter %d: %g–%g %q, want %+v", i, c.Start, c.End, c.Title, in.Chapters[i])
		}
	}
	for _, s := range p.Streams {
		if s.Type == "video" && s.Frames != 125 {
			t.Errorf("video has %d frames, want 125", s.Frames)
		}
		if s.Type == "audio" && s.Channels != 2 {
			t.Errorf("audio has %d channels", s.Channels)
		}
	}
	boxes := topBoxes(t, in.Output)
	if m, d := slices.Index(boxes, "moov"), slices.Index(boxes, "mdat"); m < 0 || d < 0 || m > d {
		t.Errorf("top-level boxes %v: moov must come before mdat (+faststart)", boxes)
	}

	// Pictures: the units in order.
	if px := pixel(t, r, in.Output, 1); px[0] < 200 || px[2] > 60 {
		t.Errorf("pixel at 1 s = %v, want red (unit 0)", px)
	}
	if px := pixel(t, r, in.Output, 4); px[2] < 200 || px[0] > 60 {
		t.Errorf("pixel at 4 s = %v, want blue (unit 1)", px)
	}
}

// checkTracksSound checks TestFinalizeTracks' sound: the unit tones once
// each and every tone track at its start, at full level, nowhere else.
func checkTracksSound(t *testing.T, r *ffmpeg.Runner, in Input, units []UnitFiles, infos []trackInfo) {
	t.Helper()
	// Sound: the unit tones once each, at their own level, in their own unit.
	out := decodePCM(t, r, in.Output)
	if !within(out.seconds(), 5, 0.04) {
		t.Errorf("decoded audio is %.3f s", out.seconds())
	}
	u0 := decodePCM(t, r, units[0].Audio).tone(440, 0.5, 2)
	u1 := decodePCM(t, r, units[1].Audio).tone(660, 0.2, 1.6)
	for _, c := range []struct {
		name       string
		freq, from float64
		want       float64
	}{
		{"unit 0 tone in unit 0", 440, 0.5, u0}, {"unit 0 tone in unit 1", 440, 3.2, 0},
		{"unit 1 tone in unit 1", 660, 3.2, u1}, {"unit 1 tone in unit 0", 660, 0.5, 0},
	} {
		got := out.tone(c.freq, c.from, 1.6)
		if c.want == 0 && got > 0.05*u0 || c.want > 0 && !within(got/c.want, 1, 0.2) {
			t.Errorf("%s: level %.4f, want %.4f (heard once, at its own level)", c.name, got, c.want)
		}
	}
	// Every track at its start, at full level, and nowhere else.
	for i, ti := range infos {
		want := ti.src * ti.gain
		if got := out.tone(ti.freq, ti.start+0.1, 0.6); !within(got/want, 1, 0.2) {
			t.Errorf("track %d (%v Hz) at %.1f s: level %.4f, want %.4f", i, ti.freq, ti.start, got, want)
		}
		if got := out.tone(ti.freq, ti.start+0.02, 0.26); !within(got/want, 1, 0.2) {
			t.Errorf("track %d (%v Hz) not heard from its start %.1f s: level %.4f, want %.4f", i, ti.freq, ti.start, got, want)
		}
		if ti.start >= 0.5 {
			if got := out.tone(ti.freq, ti.start-0.5, 0.4); got > 0.05*want {
				t.Errorf("track %d heard before its start: level %.4f", i, got)
			}
		}
		if ti.start+1.3 <= 5 {
			if got := out.tone(ti.freq, ti.start+0.9, 0.4); got > 0.05*want {
				t.Errorf("track %d heard after its end: level %.4f", i, got)
			}
		}
	}
	if got := out.tone(3500, 0.6, 0.4); got < 0.5*infos[0].src {
		t.Errorf("the intact first part of the corrupt track is not heard: %.4f", got)
	}
}

// TestFinalizeFastPath: no tracks, so no mix step. A unit whose audio is
// short is padded and one whose audio is a frame too long is cut, so every
// unit's audio stays in sync with its video.
func TestFinalizeFastPath(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	units := []UnitFiles{
		makeUnit(t, r, dir, "u0", unitSpec{secs: 3, audioSecs: 2.5, color: "green", freq: 500, preset: "veryfast"}),
		makeUnit(t, r, dir, "u1", unitSpec{secs: 2, audioSecs: 2.04, color: "yellow", freq: 700, preset: "slow"}),
		makeUnit(t, r, dir, "u2", unitSpec{secs: 1, color: "white", freq: 1100, lead: 0.5, preset: "ultrafast"}),
	}
	in := baseInput(units, 6, dir)
	var prog progressLog
	res, err := Run(context.Background(), r, in, prog.fn)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "unit 0: audio is 2.500 s, video 3.000 s") ||
		!strings.Contains(res.Warnings[1], "unit 1: audio is 2.040 s, video 2.000 s") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if !slices.Equal(prog.calls, []string{"probe", "mux", "check"}) {
		t.Errorf("progress stages %v, want no mix stage", prog.calls)
	}
	if err := r.DecodeCheck(context.Background(), in.Output, nil); err != nil {
		t.Error(err)
	}
	checkDurations(t, in, in.Output)
	out := decodePCM(t, r, in.Output)
	src := decodePCM(t, r, units[1].Audio).tone(700, 0.2, 1)
	if got := out.tone(700, 3.05, 0.3); !within(got/src, 1, 0.2) {
		t.Errorf("unit 1 tone at 3.05 s: %.4f, want %.4f (its audio must start with its video)", got, src)
	}
	if got := out.tone(700, 2.6, 0.35); got > 0.05*src {
		t.Errorf("unit 1 tone heard at 2.6 s, before its unit: %.4f", got)
	}
	if got := out.tone(500, 2.6, 0.35); got > 0.05*src {
		t.Errorf("unit 0 tone heard at 2.6 s, after its audio ended: %.4f", got)
	}
	if on := out.onset(700, 2.8, 0.5*src); !within(on, 3, 0.015) {
		t.Errorf("unit 1's tone starts at %.4f s, want 3 s (unit 0's audio is 0.5 s short)", on)
	}
	// Unit 1's audio is 40 ms long: its tail may replace the first 40 ms of
	// unit 2, but unit 2's audio must not move (its tone starts 0.5 s in).
	if on := out.onset(1100, 5.2, 0.5*src); !within(on, 5.5, 0.015) {
		t.Errorf("unit 2's tone starts at %.4f s, want 5.5 s (unit 1's audio is 40 ms long)", on)
	}
	if p, err := mtstest.Probe(context.Background(), in.Output); err != nil {
		t.Fatal(err)
	} else if len(p.Chapters) != 0 || p.Tags["title"] != "" {
		t.Errorf("chapters %v, title %q: want none", p.Chapters, p.Tags["title"])
	}
	assertEmptyDir(t, in.WorkDir)
}

// TestFinalizeTreeLevels forces a deep tree (two inputs per mix): 6 tracks
// → 3 batches → 2 reduced files → the final mux. Every level keeps every
// track at its own level.
func TestFinalizeTreeLevels(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	units := []UnitFiles{
		makeUnit(t, r, dir, "u0", unitSpec{secs: 2, color: "red", freq: 440, preset: "ultrafast"}),
		makeUnit(t, r, dir, "u1", unitSpec{secs: 2, color: "blue", freq: 0, preset: "ultrafast"}),
	}
	in := baseInput(units, 4, dir)
	in.FanIn = 2
	var srcs []float64
	t.Chdir(dir) // relative track paths that ffmpeg would read as a protocol
	for i := 0; i < 6; i++ {
		path := fmt.Sprintf("track:%d.m4a", i)
		toneFile(t, r, "file:"+path, 1000+200*i, 0, 1, 48000, 2, "-c:a", "aac")
		in.Tracks = append(in.Tracks, AudioTrackFile{Path: path, Start: 0.5 * float64(i)})
		srcs = append(srcs, decodePCM(t, r, "file:"+path).tone(float64(1000+200*i), 0.2, 0.6))
	}
	res, err := Run(context.Background(), r, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mixed != 6 || len(res.Warnings) != 0 {
		t.Errorf("mixed %d, warnings %q", res.Mixed, res.Warnings)
	}
	checkDurations(t, in, in.Output)
	out := decodePCM(t, r, in.Output)
	for i, src := range srcs {
		start := 0.5 * float64(i)
		if got := out.tone(float64(1000+200*i), start+0.2, 0.6); !within(got/src, 1, 0.2) {
			t.Errorf("track %d: level %.4f, want %.4f", i, got, src)
		}
		if start+1.5 <= 4 {
			if got := out.tone(float64(1000+200*i), start+1.1, 0.4); got > 0.05*src {
				t.Errorf("track %d heard after its end: %.4f", i, got)
			}
		}
	}
	assertEmptyDir(t, in.WorkDir)
}

// TestFinalizeCancel cancels while a mix runs: Finalize returns the
// cancellation promptly and leaves neither scratch files nor an output.
func TestFinalizeCancel(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	// Ten minutes at 1 fps: cheap to make, slow enough to mix.
	u := makeUnit(t, r, dir, "u0", unitSpec{secs: 600, color: "gray", preset: "ultrafast", size: "64x36", fps: 1})
	track := filepath.Join(dir, "long.flac")
	toneFile(t, r, track, 1000, 0, 600, 8000, 1, "-c:a", "flac")
	in := baseInput([]UnitFiles{u}, 600, dir)
	in.FPS = 1
	in.Tracks = []AudioTrackFile{{Path: track}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var canceledAt time.Time
	var once sync.Once
	_, err := Run(ctx, r, in, func(stage string, f float64) {
		if stage == "mix" && f > 0 {
			once.Do(func() { canceledAt = time.Now(); cancel() })
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled (was the mix over before a progress report?)", err)
	}
	if el := time.Since(canceledAt); el > 5*time.Second {
		t.Errorf("Finalize returned %v after the cancel", el)
	}
	assertEmptyDir(t, in.WorkDir)
	assertEmptyDir(t, filepath.Dir(in.Output))
}

// TestFinalizeRejectsWrongUnitLength: units that do not add up to the
// duration cannot be fixed by a stream copy; the error says so and nothing is
// written.
func TestFinalizeRejectsWrongUnitLength(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	u := makeUnit(t, r, dir, "u0", unitSpec{secs: 2, color: "red", freq: 440, preset: "ultrafast"})
	in := baseInput([]UnitFiles{u}, 2.5, dir)
	_, err := Run(context.Background(), r, in, nil)
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "adds up to 2.000 s, the recording is 2.500 s") {
		t.Fatalf("error %v", err)
	}
	assertEmptyDir(t, in.WorkDir)
	assertEmptyDir(t, filepath.Dir(in.Output))

	in = baseInput([]UnitFiles{{Video: u.Audio, Audio: u.Audio}}, 2, dir)
	if _, err := Run(context.Background(), r, in, nil); !errors.Is(err, ErrInput) ||
		!strings.Contains(err.Error(), "unit 0 video") {
		t.Fatalf("a FLAC as unit video: %v", err)
	}
}

func TestCheckOutput(t *testing.T) {
	r := newFFmpeg(t)
	ctx := context.Background()
	dir := t.TempDir()
	mk := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		ffrun(t, r, append(args, p)...)
		return p
	}
	good := mk("good.mp4", "-f", "lavfi", "-i", "testsrc=s=160x90:r=25:d=2", "-f", "lavfi", "-i", "sine=r=48000:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")
	if m, err := CheckOutput(ctx, r, good, 2, 25, nil); err != nil || !m.HasAudio || !m.HasVideo {
		t.Fatalf("a good file: %+v %v", m, err)
	}
	if _, err := CheckOutput(ctx, r, good, 2.1, 25, nil); !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), "video is 2.000 s long, want 2.100 s") {
		t.Errorf("three frames short: %v", err)
	}
	longAudio := mk("long-audio.mp4", "-f", "lavfi", "-i", "testsrc=s=160x90:r=25:d=2", "-f", "lavfi", "-i", "sine=r=48000:d=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	if _, err := CheckOutput(ctx, r, longAudio, 2, 25, nil); !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), "audio is 3.0") {
		t.Errorf("audio a second too long: %v", err)
	}
	silent := mk("silent.mp4", "-f", "lavfi", "-i", "testsrc=s=160x90:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast")
	if _, err := CheckOutput(ctx, r, silent, 2, 25, nil); !errors.Is(err, ErrBadOutput) {
		t.Errorf("no audio stream: %v", err)
	}
	data, _ := os.ReadFile(good)
	for i := len(data) / 3; i < len(data)/3+2048; i++ {
		data[i] ^= 0x5a
	}
	bad := filepath.Join(dir, "bad.mp4")
	os.WriteFile(bad, data, 0o644)
	if _, err := CheckOutput(ctx, r, bad, 2, 25, nil); !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("2 KiB of garbage in the middle: %v", err)
	}
}

// TestFinalizePremixed is TestFinalizeTracks with the tracks premixed first
// (as the coordinator does while the units render): Premix skips the same
// two broken tracks with the same warnings, and Run with Input.Premixed
// gives an output a viewer cannot tell from the one-step finalize.
func TestFinalizePremixed(t *testing.T) {
	r := newFFmpeg(t)
	dir := t.TempDir()
	units := []UnitFiles{
		makeUnit(t, r, dir, "u0", unitSpec{secs: 3, color: "red", freq: 440, preset: "ultrafast"}),
		makeUnit(t, r, dir, "u1", unitSpec{secs: 2, color: "blue", freq: 660, preset: "medium"}),
	}
	in := baseInput(units, 5, dir)
	in.Title = "Premixed"
	good, infos := toneTracks(t, r, dir)
	tracks := append(good, brokenTracks(t, r, dir)...)

	premix := filepath.Join(dir, "premix", "tracks.flac")
	pres, err := Premix(context.Background(), r, PremixInput{Tracks: tracks, Duration: in.Duration, AudioRate: in.AudioRate,
		AudioChannels: in.AudioChannels, FanIn: 4, WorkDir: filepath.Join(dir, "premix-work"), Output: premix}, nil)
	if err != nil {
		t.Fatalf("Premix: %v (warnings %q)", err, pres.Warnings)
	}
	if pres.Mixed != 21 || len(pres.Warnings) != 2 || !strings.Contains(pres.Warnings[0], "audio track 20 (garbage.m4a)") {
		t.Errorf("premix mixed %d tracks with warnings %q; want 21 and the two broken tracks named", pres.Mixed, pres.Warnings)
	}
	assertEmptyDir(t, filepath.Join(dir, "premix-work"))

	in.Premixed, in.PremixedTracks = premix, pres.Mixed
	res, err := Run(context.Background(), r, in, nil)
	if err != nil {
		t.Fatalf("Finalize with the premix: %v", err)
	}
	if res.Mixed != 21 || len(res.Warnings) != 0 {
		t.Errorf("finalize with the premix: mixed %d, warnings %q; want 21 and none (they were the premix's)", res.Mixed, res.Warnings)
	}
	if _, err := os.Stat(premix); err != nil {
		t.Errorf("finalize removed the caller's premix: %v", err)
	}
	checkTracksSound(t, r, in, units, infos)
}
