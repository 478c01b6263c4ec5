package mtstest

import (
	"context"
	"testing"
)

// BenchmarkGenerateWebcam generates a 30 s 640×360 webcam chunk with a tone
// (a new cache each time, so every iteration encodes).
func BenchmarkGenerateWebcam(b *testing.B) {
	spec := mediaSpec{Video: true, Width: 640, Height: 360, Color: "#d02020", Audio: true, ToneHz: 440, SampleRate: 48000, Duration: 30}
	for b.Loop() {
		g := newGenerator(b.TempDir(), "ffmpeg", 2, testLog)
		if _, err := g.media(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
		g.stop()
	}
}

// BenchmarkGenerateLongScreenshare generates a 30-minute 1920×1080
// screenshare chunk (a 10 s tile looped by stream copy).
func BenchmarkGenerateLongScreenshare(b *testing.B) {
	spec := mediaSpec{Video: true, Width: 1920, Height: 1080, Color: "#2040d0", Duration: 1800}
	for b.Loop() {
		g := newGenerator(b.TempDir(), "ffmpeg", 2, testLog)
		if _, err := g.media(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
		g.stop()
	}
}
