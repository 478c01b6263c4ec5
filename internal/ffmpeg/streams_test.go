package ffmpeg

import (
	"context"
	"math"
	"testing"
)

func TestStreamDurations(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	// Video 2 s, audio 3 s: Probe reports 3 s, StreamDurations each length.
	f := makeMedia(t, r, "uneven.mp4", "-f", "lavfi", "-i", "color=c=red:s=160x90:r=25:d=2",
		"-f", "lavfi", "-i", "sine=f=440:r=48000:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	v, a, err := r.StreamDurations(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v-2) > 0.041 || math.Abs(a-3) > 0.03 {
		t.Fatalf("video %v audio %v, want 2 and 3", v, a)
	}
	audioOnly := makeMedia(t, r, "a.flac", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=1")
	if v, a, err := r.StreamDurations(ctx, audioOnly); err != nil || v != 0 || math.Abs(a-1) > 0.001 {
		t.Fatalf("audio-only: video %v audio %v err %v", v, a, err)
	}
	if _, _, err := r.StreamDurations(ctx, "/nonexistent/x.mp4"); err == nil {
		t.Fatal("a missing file gave no error")
	}
}
