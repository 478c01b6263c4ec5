package renderer

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Measuring rendered output: pixels of decoded frames, tone levels of
// decoded PCM, exact frame and sample counts.

// decodeFrames returns the given frames (by index, ascending) of a video as
// rgb24, w×h each.
func decodeFrames(t testing.TB, path string, w, h int, frames ...int) [][]byte {
	t.Helper()
	var sel []string
	for _, n := range frames {
		sel = append(sel, fmt.Sprintf("eq(n\\,%d)", n))
	}
	out := run(t, "ffmpeg", "-v", "error", "-i", path, "-vf", "select="+strings.Join(sel, "+"),
		"-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	size := w * h * 3
	if len(out) != size*len(frames) {
		t.Fatalf("decoding frames %v of %s: got %d bytes, want %d (%d frames of %dx%d)", frames, path, len(out), size*len(frames), len(frames), w, h)
	}
	res := make([][]byte, len(frames))
	for i := range frames {
		res[i] = out[i*size : (i+1)*size]
	}
	return res
}

// regionColor is the mean colour of the middle of r (its central 40%, away
// from bars and edges) in an rgb24 frame of width w.
func regionColor(frame []byte, w int, r proto.Rect) [3]int {
	x0, x1 := r.X+r.W*3/10, r.X+r.W*7/10
	y0, y1 := r.Y+r.H*3/10, r.Y+r.H*7/10
	var sum [3]int
	n := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			i := (y*w + x) * 3
			for c := range 3 {
				sum[c] += int(frame[i+c])
			}
			n++
		}
	}
	if n == 0 {
		return sum
	}
	return [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
}

func nearColor(got, want [3]int) bool {
	for c := range 3 {
		if d := got[c] - want[c]; d > 40 || d < -40 {
			return false
		}
	}
	return true
}

// decodePCM returns the first channel of an audio file as samples at rate.
func decodePCM(t testing.TB, path string, rate int) []float64 {
	t.Helper()
	pcm, err := mtstest.DecodePCM(context.Background(), path, rate)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// toneLevel is the amplitude of the freq Hz component of pcm between from
// and to seconds (Goertzel over a whole number of cycles when freq and the
// span allow; a full-scale sine gives 1). Unlike mtstest.ToneAmplitude it
// uses no window: tones that start or stop at a window's edge are measured
// at full weight.
func toneLevel(pcm []float64, rate int, freq, from, to float64) float64 {
	a, b := int(from*float64(rate)), int(to*float64(rate))
	b = min(b, len(pcm))
	if a >= b {
		return 0
	}
	n := b - a
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm[a:b] {
		s := x + coeff*s1 - s2
		s2, s1 = s1, s
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(n)
}

// frameCount counts the video packets of a file (one per frame).
func frameCount(t testing.TB, path string) int {
	t.Helper()
	// MPEG-TS lists the stream under its program too: take the first line.
	out, _, _ := strings.Cut(strings.TrimSpace(string(run(t, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path))), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("counting frames of %s: %q", path, out)
	}
	return n
}

// sampleCount is the number of audio samples of a file, decoded.
func sampleCount(t testing.TB, path string, rate int) int {
	t.Helper()
	return len(decodePCM(t, path, rate))
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}
