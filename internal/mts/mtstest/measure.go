package mtstest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// Fidelity measurements for end-to-end tests: sample a pixel's color, measure
// a tone's level, probe streams. They run ffmpeg/ffprobe from PATH on a file
// path or URL.

// RGB is a color.
type RGB struct{ R, G, B uint8 }

func (c RGB) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Distance is the largest per-channel difference between two colors. H.264
// in yuv420p brings a solid color back within about 6; 24 tells colors
// apart safely.
func (c RGB) Distance(o RGB) int {
	d := func(a, b uint8) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	return max(d(c.R, o.R), d(c.G, o.G), d(c.B, o.B))
}

// MustColor parses "#rrggbb" and panics on a bad literal (for tests).
func MustColor(s string) RGB {
	c, err := ParseColor(s)
	if err != nil {
		panic(err)
	}
	return c
}

func runTool(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s not found: install ffmpeg or run scripts/test.sh: %w", prog, err)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 1000 {
			msg = msg[len(msg)-1000:]
		}
		return nil, fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// SampleColor decodes the first frame at or after t seconds (t <= 0: the
// first frame; images take 0) and returns the color of pixel (x, y).
func SampleColor(ctx context.Context, file string, t float64, x, y int) (RGB, error) {
	c, err := SampleColors(ctx, file, t, [2]int{x, y})
	if err != nil {
		return RGB{}, err
	}
	return c[0], nil
}

// SampleColors samples several pixels of one frame with one decode.
func SampleColors(ctx context.Context, file string, t float64, points ...[2]int) ([]RGB, error) {
	if len(points) == 0 {
		return nil, nil
	}
	// format=rgb24 first, so chroma subsampling cannot shift a 1×1 crop;
	// the crops are stacked side by side into an N×1 image. A point outside
	// the frame makes the crop 0 wide, an error (crop would clamp it).
	crop := func(p [2]int) string {
		return fmt.Sprintf(`crop=w='if(lt(%d\,iw)*lt(%d\,ih)\,1\,0)':h=1:x=%d:y=%d`, p[0], p[1], p[0], p[1])
	}
	for _, p := range points {
		if p[0] < 0 || p[1] < 0 {
			return nil, fmt.Errorf("sampling colors of %s: point %v is outside the frame", file, p)
		}
	}
	graph := "[0:v]format=rgb24"
	if len(points) == 1 {
		graph += "," + crop(points[0]) + "[out]"
	} else {
		graph += fmt.Sprintf(",split=%d", len(points))
		for i := range points {
			graph += fmt.Sprintf("[s%d]", i)
		}
		var stack string
		for i, p := range points {
			graph += fmt.Sprintf(";[s%d]%s[c%d]", i, crop(p), i)
			stack += fmt.Sprintf("[c%d]", i)
		}
		graph += fmt.Sprintf(";%shstack=inputs=%d[out]", stack, len(points))
	}
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	if t > 0 {
		args = append(args, "-ss", seconds(t)) // (an image over HTTP cannot seek, even to 0)
	}
	args = append(args, "-i", file, "-filter_complex", graph, "-map", "[out]", "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	out, err := runTool(ctx, "ffmpeg", args...)
	if err != nil {
		return nil, fmt.Errorf("sampling colors of %s at %gs %v: %w", file, t, points, err)
	}
	if len(out) < 3*len(points) {
		return nil, fmt.Errorf("sampling colors of %s at %gs %v: no frame there", file, t, points)
	}
	cols := make([]RGB, len(points))
	for i := range cols {
		cols[i] = RGB{out[3*i], out[3*i+1], out[3*i+2]}
	}
	return cols, nil
}

// measureRate is the rate audio is decoded at for measurements: tones up to
// 15 kHz can be measured.
const measureRate = 32000

// DecodePCM decodes all of the first channel of file's first audio stream
// as float samples at rate (full scale 1.0).
func DecodePCM(ctx context.Context, file string, rate int) ([]float64, error) {
	return decodePCM(ctx, file, rate, 0, 0)
}

// decodePCM decodes dur seconds of the first channel from start (dur <= 0:
// to the end) as float samples at rate.
func decodePCM(ctx context.Context, file string, rate int, start, dur float64) ([]float64, error) {
	what := fmt.Sprintf("decoding audio of %s", file)
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	if dur > 0 {
		what += fmt.Sprintf(" from %gs for %gs", start, dur)
		args = append(args, "-ss", seconds(start), "-t", seconds(dur))
	}
	out, err := runTool(ctx, "ffmpeg", append(args, "-i", file, "-vn", "-map", "0:a:0", "-af", "pan=mono|c0=c0",
		"-ar", strconv.Itoa(rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1")...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	n := len(out) / 4
	if n == 0 {
		return nil, fmt.Errorf("%s: no samples there", what)
	}
	pcm := make([]float64, n)
	for i := range n {
		pcm[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:])))
	}
	return pcm, nil
}

// dB converts an amplitude to dBFS, with a floor of -200.
func dB(a float64) float64 {
	if a <= 1e-10 {
		return -200
	}
	return 20 * math.Log10(a)
}

// ToneAmplitude is the amplitude of the hz component of pcm sampled at rate
// (a single-bin DFT, Goertzel's quantity, with a Hann window so other tones
// leak little; a full-scale sine gives 1).
func ToneAmplitude(pcm []float64, rate, hz float64) float64 {
	n := len(pcm)
	if n < 2 {
		return 0
	}
	var re, im, wsum float64
	w := 2 * math.Pi * hz / rate
	for i, x := range pcm {
		win := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		re += x * win * math.Cos(w*float64(i))
		im -= x * win * math.Sin(w*float64(i))
		wsum += win
	}
	return 2 * math.Hypot(re, im) / wsum
}

// ToneLevel is the level, in dBFS of the first audio stream's first channel,
// of the hz tone between start and start+dur. A sine at full scale is 0; the
// fake server's tones are about -18 (ffmpeg's sine amplitude 1/8). Silence,
// and other tones well apart (20 Hz apart over a 1 s window, i.e. 20 Hz·s;
// the Hann window's main lobe is ±2 Hz·s), are below -60.
func ToneLevel(ctx context.Context, file string, start, dur, hz float64) (float64, error) {
	l, err := ToneLevels(ctx, file, start, dur, hz)
	if err != nil {
		return 0, err
	}
	return l[0], nil
}

// ToneLevels measures several tones in one decode.
func ToneLevels(ctx context.Context, file string, start, dur float64, hzs ...float64) ([]float64, error) {
	pcm, err := decodePCM(ctx, file, measureRate, start, dur)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(hzs))
	for i, hz := range hzs {
		out[i] = dB(ToneAmplitude(pcm, measureRate, hz))
	}
	return out, nil
}

// AudioLevel is the RMS level in dBFS between start and start+dur (a
// full-scale sine is -3; digital silence -200).
func AudioLevel(ctx context.Context, file string, start, dur float64) (float64, error) {
	pcm, err := decodePCM(ctx, file, measureRate, start, dur)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, x := range pcm {
		sum += x * x
	}
	return dB(math.Sqrt(sum / float64(len(pcm)))), nil
}

// ProbeStream is one stream of a probed file.
type ProbeStream struct {
	Type       string  // "video" or "audio"
	Codec      string  // codec_name
	Width      int     // video
	Height     int     // video
	SampleRate int     // audio
	Channels   int     // audio
	Duration   float64 // seconds (0 when unknown)
	Frames     int     // nb_frames (0 when unknown)
}

// ProbeChapter is one chapter of a probed file.
type ProbeChapter struct {
	Start, End float64 // seconds
	Title      string
}

// ProbeResult is what ffprobe says of a file.
type ProbeResult struct {
	Format   string
	Duration float64
	Size     int64
	Tags     map[string]string // the container's metadata (title, …)
	Streams  []ProbeStream
	Chapters []ProbeChapter
}

// Video returns the first video stream, if any.
func (p *ProbeResult) Video() (ProbeStream, bool) { return p.first("video") }

// Audio returns the first audio stream, if any.
func (p *ProbeResult) Audio() (ProbeStream, bool) { return p.first("audio") }

func (p *ProbeResult) first(t string) (ProbeStream, bool) {
	for _, s := range p.Streams {
		if s.Type == t {
			return s, true
		}
	}
	return ProbeStream{}, false
}

// Probe runs ffprobe on a file or URL. It fails when ffprobe does (a
// truncated mp4 without moov, say).
func Probe(ctx context.Context, file string) (*ProbeResult, error) {
	out, err := runTool(ctx, "ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
		"-show_chapters", file)
	if err != nil {
		return nil, fmt.Errorf("probing %s: %w", file, err)
	}
	var raw struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
			Duration   string `json:"duration"`
			NbFrames   string `json:"nb_frames"`
		} `json:"streams"`
		Format struct {
			FormatName string            `json:"format_name"`
			Duration   string            `json:"duration"`
			Size       string            `json:"size"`
			Tags       map[string]string `json:"tags"`
		} `json:"format"`
		Chapters []struct {
			StartTime string            `json:"start_time"`
			EndTime   string            `json:"end_time"`
			Tags      map[string]string `json:"tags"`
		} `json:"chapters"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("probing %s: reading ffprobe output: %w", file, err)
	}
	p := &ProbeResult{Format: raw.Format.FormatName, Tags: raw.Format.Tags}
	p.Duration, _ = strconv.ParseFloat(raw.Format.Duration, 64)
	p.Size, _ = strconv.ParseInt(raw.Format.Size, 10, 64)
	for _, s := range raw.Streams {
		ps := ProbeStream{Type: s.CodecType, Codec: s.CodecName, Width: s.Width, Height: s.Height, Channels: s.Channels}
		ps.SampleRate, _ = strconv.Atoi(s.SampleRate)
		ps.Duration, _ = strconv.ParseFloat(s.Duration, 64)
		ps.Frames, _ = strconv.Atoi(s.NbFrames)
		p.Streams = append(p.Streams, ps)
	}
	for _, c := range raw.Chapters {
		pc := ProbeChapter{Title: c.Tags["title"]}
		pc.Start, _ = strconv.ParseFloat(c.StartTime, 64)
		pc.End, _ = strconv.ParseFloat(c.EndTime, 64)
		p.Chapters = append(p.Chapters, pc)
	}
	return p, nil
}
