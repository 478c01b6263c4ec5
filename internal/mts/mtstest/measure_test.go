package mtstest

import (
	"context"
	"math"
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
		got := dB(toneAmplitude(pcm, rate, c.hz))
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
	if toneAmplitude(nil, rate, 440) != 0 || dB(0) != -200 {
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
	// An image has no audio: a clear error, not a silent zero.
	if _, err := ToneLevel(ctx, img, 0, 1, 440); err == nil {
		t.Fatal("tone of an image")
	}
	if _, err := Probe(ctx, filepath.Join(dir, "missing.mp4")); err == nil || !strings.Contains(err.Error(), "missing.mp4") {
		t.Fatalf("probe of a missing file: %v", err)
	}
}
