package finalize

// Test media and measurements for the finalize tests: tiny units and tracks
// made with real ffmpeg, tone levels measured (mtstest.ToneAmplitude) on PCM
// decoded by ffmpeg with every channel mixed, pixels sampled from decoded
// frames, MP4 boxes read.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

func newFFmpeg(t testing.TB) *ffmpeg.Runner {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not found on PATH: run scripts/test.sh, which installs it", p)
		}
	}
	return ffmpeg.New(zerolog.Nop())
}

func ffrun(t testing.TB, r *ffmpeg.Runner, args ...string) {
	t.Helper()
	if err := r.Run(context.Background(), append([]string{"-v", "error"}, args...), nil); err != nil {
		t.Fatalf("ffmpeg %v: %v", args, err)
	}
}

// unitSpec describes one test unit: a solid color with a tone, encoded the
// way renderers encode units (MPEG-TS H.264, keyframe at the start, no
// B-frames) with the given x264 preset, and FLAC audio.
type unitSpec struct {
	secs      float64 // video length
	audioSecs float64 // audio length (0: secs)
	color     string
	freq      int     // tone of the unit audio; 0: silence
	lead      float64 // silence before the tone
	preset    string
	size      string // default 320x180
	fps       int    // default 25
}

func makeUnit(t testing.TB, r *ffmpeg.Runner, dir, name string, u unitSpec) UnitFiles {
	t.Helper()
	size, fps := u.size, u.fps
	if size == "" {
		size = "320x180"
	}
	if fps == 0 {
		fps = 25
	}
	as := u.audioSecs
	if as == 0 {
		as = u.secs
	}
	out := UnitFiles{Video: filepath.Join(dir, name+".ts"), Audio: filepath.Join(dir, name+".flac")}
	gop := fmt.Sprint(2 * fps)
	ffrun(t, r, "-f", "lavfi", "-i", fmt.Sprintf("color=c=%s:s=%s:r=%d:d=%s", u.color, size, fps, fsecs(u.secs)),
		"-c:v", "libx264", "-preset", u.preset, "-crf", "30", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-bf", "0", "-pix_fmt", "yuv420p", "-f", "mpegts", out.Video)
	src := fmt.Sprintf("anullsrc=r=48000:cl=stereo:d=%s", fsecs(as))
	if u.freq > 0 {
		src = fmt.Sprintf("sine=f=%d:r=48000:d=%s,adelay=delays=%dS:all=1", u.freq, fsecs(as-u.lead),
			int(math.Round(u.lead*48000)))
	}
	ffrun(t, r, "-f", "lavfi", "-i", src, "-ac", "2", "-c:a", "flac", "-sample_fmt", "s16", "-f", "flac", out.Audio)
	return out
}

// toneFile writes lead seconds of silence, then a tone for secs seconds, in
// the given container/codec, rate and channels.
func toneFile(t testing.TB, r *ffmpeg.Runner, path string, freq int, lead, secs float64, rate, channels int, codec ...string) {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("sine=f=%d:r=%d:d=%s", freq, rate, fsecs(secs)),
		"-af", fmt.Sprintf("adelay=delays=%dS:all=1", int(math.Round(lead*float64(rate)))), "-ac", fmt.Sprint(channels)}
	ffrun(t, r, append(append(args, codec...), path)...)
}

// pcm is mono audio at pcmRate, decoded by ffmpeg.
type pcm []float64

const pcmRate = 8000

func decodePCM(t testing.TB, r *ffmpeg.Runner, path string) pcm {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pcm.raw")
	ffrun(t, r, "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", fmt.Sprint(pcmRate), "-f", "s16le", out)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p := make(pcm, len(raw)/2)
	for i := range p {
		p[i] = float64(int16(binary.LittleEndian.Uint16(raw[2*i:]))) / 32768
	}
	return p
}

func (p pcm) seconds() float64 { return float64(len(p)) / pcmRate }

// tone is the amplitude of freq in [from, from+dur), Hann-windowed (a
// full-scale sine gives 1).
func (p pcm) tone(freq, from, dur float64) float64 {
	a, b := int(from*pcmRate), int((from+dur)*pcmRate)
	a, b = max(a, 0), min(b, len(p))
	if b-a < 16 {
		return 0
	}
	return mtstest.ToneAmplitude(p[a:b], pcmRate, freq)
}

// onset is when freq starts (at level or above) after from: the start of
// the first 20 ms window (in 1 ms steps) with the tone at level, plus half a
// window; -1 if it never does.
func (p pcm) onset(freq, from, level float64) float64 {
	const win = 0.02
	for at := from; at+win <= p.seconds(); at += 0.001 {
		if p.tone(freq, at, win) >= level {
			return at + win/2
		}
	}
	return -1
}

// pixel is the average RGB of the frame shown at t.
func pixel(t testing.TB, r *ffmpeg.Runner, path string, at float64) [3]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "px.raw")
	ffrun(t, r, "-ss", fsecs(at), "-i", path, "-frames:v", "1", "-vf", "scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", out)
	raw, err := os.ReadFile(out)
	if err != nil || len(raw) != 3 {
		t.Fatalf("pixel at %v: %d bytes, %v", at, len(raw), err)
	}
	return [3]byte{raw[0], raw[1], raw[2]}
}

// topBoxes lists the top-level MP4 box types in file order.
func topBoxes(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var types []string
	var off int64
	for {
		var h [16]byte
		if _, err := f.ReadAt(h[:8], off); err == io.EOF {
			return types
		} else if err != nil {
			t.Fatalf("reading box header at %d: %v", off, err)
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		types = append(types, string(h[4:8]))
		switch size {
		case 0: // to the end of the file
			return types
		case 1:
			if _, err := f.ReadAt(h[8:16], off+8); err != nil {
				t.Fatal(err)
			}
			size = int64(binary.BigEndian.Uint64(h[8:16]))
		}
		if size < 8 {
			t.Fatalf("box %q at %d has size %d", h[4:8], off, size)
		}
		off += size
	}
}

// writeUnknownWAV writes a WAV file of secs seconds whose format tag no
// decoder knows: ffprobe reads it (an audio stream with a duration), ffmpeg
// cannot decode it.
func writeUnknownWAV(t testing.TB, path string, rate, channels int, secs float64) {
	t.Helper()
	data := make([]byte, int(float64(rate)*secs)*channels*2)
	le := binary.LittleEndian
	fmtChunk := le.AppendUint16(nil, 0x1234)
	fmtChunk = le.AppendUint16(fmtChunk, uint16(channels))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(rate))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(rate*channels*2))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(channels*2))
	fmtChunk = le.AppendUint16(fmtChunk, 16)
	body := append([]byte("WAVEfmt "), le.AppendUint32(nil, uint32(len(fmtChunk)))...)
	body = append(body, fmtChunk...)
	body = append(append(body, "data"...), le.AppendUint32(nil, uint32(len(data)))...)
	body = append(body, data...)
	file := append(append([]byte("RIFF"), le.AppendUint32(nil, uint32(len(body)))...), body...)
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
}
