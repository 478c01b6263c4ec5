package mtstest

import (
	"context"
	"testing"
)

// TestMovingTexture checks that a "moving" stream is textured (pixels of one
// frame differ), moves (a pixel changes over time) and keeps its tint, and
// that a solid one stays flat.
func TestMovingTexture(t *testing.T) {
	ctx := context.Background()
	g := newGenerator(t.TempDir(), "ffmpeg", 1, testLog)
	defer g.stop()
	base := mediaSpec{Video: true, Width: 320, Height: 180, Color: "#d02020", Duration: 2}
	moving := base
	moving.Texture = TextureMoving
	if base.key("mp4") == moving.key("mp4") {
		t.Fatal("solid and moving specs share a cache key")
	}
	pts := [][2]int{{40, 30}, {160, 90}, {280, 150}, {100, 120}}
	sample := func(s mediaSpec, at float64) []RGB {
		t.Helper()
		f, err := g.media(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := SampleColors(ctx, f, at, pts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	solid := sample(base, 0.5)
	for _, c := range solid {
		if c != solid[0] {
			t.Fatalf("solid frame is not flat: %v", solid)
		}
	}
	a, b := sample(moving, 0.2), sample(moving, 1.6)
	distinct := map[RGB]bool{}
	changed := false
	var r, bl int
	for i := range a {
		distinct[a[i]] = true
		changed = changed || a[i] != b[i]
		r += int(a[i].R)
		bl += int(a[i].B)
	}
	if len(distinct) < 2 {
		t.Errorf("moving frame is flat: %v", a)
	}
	if !changed {
		t.Errorf("moving texture does not move: %v at 0.2 s, %v at 1.6 s", a, b)
	}
	if r <= bl {
		t.Errorf("moving texture lost its red tint: %v", a)
	}
}
