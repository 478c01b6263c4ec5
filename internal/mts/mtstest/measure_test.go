package mtstest

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestToneAmplitude(t *testing.T) {
	const rate = 32000
	pcm := make([]float64, rate) // 1 s: 0.125·sin(440) + 0.0125·sin(1000)
	for i := range pcm {
		x := float64(i) / rate
		pcm[i] = 0.125*math.Sin(2*math.Pi*440*x+0.3) + 0.0125*math.Sin(2*math.Pi*1000*x)
	}
	cases := []struct {
		hz, want, tol float64
	}{
		{440, dB(0.125), 0.1},   // -18.06
		{1000, dB(0.0125), 0.2}, // -38.06
		{700, -200, 0},          // nothing there: below -70
		{460, -200, 0},          // 20 Hz·s from a loud tone: below -70
	}
	for _, c := range cases {
		got := dB(ToneAmplitude(pcm, rate, c.hz))
		if c.want == -200 {
			if got > -70 {
				t.Errorf("%v Hz: %.1f dB, want below -70", c.hz, got)
			}
			continue
		}
		if math.Abs(got-c.want) > c.tol {
			t.Errorf("%v Hz: %.2f dB, want %.2f±%v", c.hz, got, c.want, c.tol)
		}
	}
	if ToneAmplitude(nil, rate, 440) != 0 || dB(0) != -200 {
		t.Error("empty input")
	}
}

func TestMeasureOnFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "two.png")
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-v", "error", "-y"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg %v: %v: %s", args, err, out)
		}
	}
	run("-f", "lavfi", "-i", "color=c=0xd02020:s=100x100", "-f", "lavfi", "-i", "color=c=0x2040d0:s=100x100",
		"-filter_complex", "[0][1]hstack", "-frames:v", "1", img)
	cols, err := SampleColors(ctx, img, 0, [2]int{10, 50}, [2]int{150, 50}, [2]int{99, 0}, [2]int{100, 99})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"#d02020", "#2040d0", "#d02020", "#2040d0"}
	for i, c := range cols {
		if c.Distance(MustColor(want[i])) > 2 {
			t.Errorf("point %d: %v, want %s", i, c, want[i])
		}
	}
	if _, err := SampleColor(ctx, img, 0, 500, 500); err == nil {
		t.Error("a pixel outside the frame was sampled")
	}

	// 2 s of 440 Hz in stereo, then 1 s of silence, in AAC.
	wav := filepath.Join(dir, "tone.m4a")
	run("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono:d=1",
		"-filter_complex", "[0][1]concat=n=2:v=0:a=1,pan=stereo|c0=c0|c1=c0", "-c:a", "aac", wav)
	lv, err := ToneLevels(ctx, wav, 0.5, 1, 440, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if lv[0] < -19 || lv[0] > -17 || lv[1] > -60 {
		t.Fatalf("tone levels %v, want about -18 and below -60", lv)
	}
	if l, err := ToneLevel(ctx, wav, 2.2, 0.6, 440); err != nil || l > -60 {
		t.Fatalf("silence: %.1f dB, %v", l, err)
	}
	if rms, err := AudioLevel(ctx, wav, 0.5, 1); err != nil || math.Abs(rms+21.1) > 0.5 {
		t.Fatalf("RMS of the sine %.2f dB, want -21.1: %v", rms, err)
	}
	if rms, err := AudioLevel(ctx, wav, 2.3, 0.5); err != nil || rms > -80 {
		t.Fatalf("RMS of silence %.1f dB: %v", rms, err)
	}
	p, err := Probe(ctx, wav)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := p.Audio(); !ok || a.Channels != 2 || a.SampleRate != 48000 || math.Abs(p.Duration-3) > 0.05 {
		t.Fatalf("probe %+v", p)
	}
	if _, ok := p.Video(); ok {
		t.Fatal("video in an audio file")
	}
	if len(p.Chapters) != 0 || p.Tags["title"] != "" {
		t.Fatalf("chapters %v, title %q in a file without them", p.Chapters, p.Tags["title"])
	}
	// The whole first channel at a chosen rate.
	pcm, err := DecodePCM(ctx, wav, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(len(pcm))-3*8000) > 0.01*3*8000 {
		t.Fatalf("decoded %d samples, want about %d", len(pcm), 3*8000)
	}
	if l := dB(ToneAmplitude(pcm[4000:12000], 8000, 440)); l < -19 || l > -17 {
		t.Fatalf("tone of the decoded samples %.1f dB, want about -18", l)
	}
	// Title and chapters.
	meta := filepath.Join(dir, "meta.txt")
	if err := os.WriteFile(meta, []byte(";FFMETADATA1\ntitle=Lecture 1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=Intro\n"+
		"[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=3000\ntitle=Questions\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	titled := filepath.Join(dir, "titled.m4a")
	run("-i", wav, "-i", meta, "-map", "0", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy", titled)
	if p, err = Probe(ctx, titled); err != nil {
		t.Fatal(err)
	}
	wantCh := []ProbeChapter{{0, 1.5, "Intro"}, {1.5, 3, "Questions"}}
	if p.Tags["title"] != "Lecture 1" || len(p.Chapters) != len(wantCh) {
		t.Fatalf("title %q, chapters %+v: want \"Lecture 1\" and %+v", p.Tags["title"], p.Chapters, wantCh)
	}
	for i, c := range p.Chapters {
		if c.Title != wantCh[i].Title || math.Abs(c.Start-wantCh[i].Start) > 1e-3 || math.Abs(c.End-wantCh[i].End) > 1e-3 {
			t.Errorf("chapter %d: %+v, want %+v", i, c, wantCh[i])
		}
	}
	// An image has no audio: a clear error, not a silent zero.
	if _, err := ToneLevel(ctx, img, 0, 1, 440); err == nil {
		t.Fatal("tone of an image")
	}
	if _, err := Probe(ctx, filepath.Join(dir, "missing.mp4")); err == nil || !strings.Contains(err.Error(), "missing.mp4") {
		t.Fatalf("probe of a missing file: %v", err)
	}
}
