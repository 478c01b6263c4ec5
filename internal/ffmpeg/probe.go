package ffmpeg

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mtsfarm/mtsfarm/proto"
)

type probeOutput struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
	} `json:"format"`
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		SampleRate   string `json:"sample_rate"`
		Channels     int    `json:"channels"`
		Duration     string `json:"duration"`
		Disposition  struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
}

// Probe runs ffprobe on a file path or URL and returns what it found. It does
// not judge usability: call MediaInfo.Validate for that (a still image has a
// video stream and no duration).
func (r *Runner) Probe(ctx context.Context, input string) (proto.MediaInfo, error) {
	args := []string{"-v", "error", "-show_format", "-show_streams", "-of", "json"}
	if strings.HasPrefix(input, "http://") || strings.HasPrefix(input, "https://") {
		args = append(args, "-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "5")
	}
	args = append(append(args, SafeInput(input)...), input)
	out, err := r.output(ctx, "ffprobe", r.FFprobe, args, 16<<20)
	if err != nil {
		return proto.MediaInfo{}, fmt.Errorf("probing %s: %w", Redact([]string{input})[0], err)
	}
	return parseProbe(out)
}

func parseProbe(out []byte) (proto.MediaInfo, error) {
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return proto.MediaInfo{}, fmt.Errorf("reading ffprobe output: %w", err)
	}
	var m proto.MediaInfo
	m.Format = p.Format.FormatName
	m.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	m.Size, _ = strconv.ParseInt(p.Format.Size, 10, 64)
	streamMax := 0.0
	for _, s := range p.Streams {
		d, _ := strconv.ParseFloat(s.Duration, 64)
		switch s.CodecType {
		case "video":
			if s.Disposition.AttachedPic == 1 || m.HasVideo {
				continue
			}
			m.HasVideo, m.VideoCodec, m.Width, m.Height = true, s.CodecName, s.Width, s.Height
			m.FPS = rate(s.AvgFrameRate)
			if m.FPS == 0 {
				m.FPS = rate(s.RFrameRate)
			}
		case "audio":
			if m.HasAudio {
				continue
			}
			m.HasAudio, m.AudioCodec, m.Channels = true, s.CodecName, s.Channels
			m.SampleRate, _ = strconv.Atoi(s.SampleRate)
		default:
			continue
		}
		streamMax = max(streamMax, d)
	}
	if m.Duration <= 0 {
		m.Duration = streamMax
	}
	return m, nil
}

// rate parses an ffprobe rational like "25/1"; 0 when unknown.
func rate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	num, err1 := strconv.ParseFloat(n, 64)
	den, err2 := strconv.ParseFloat(d, 64)
	if err1 != nil || err2 != nil || den == 0 {
		return 0
	}
	return num / den
}

// DecodeCheck decodes every stream of input completely and fails if ffmpeg
// reports a single error (a corrupt or truncated file, a broken join).
// onProgress, when not nil, hears how far the decode is (a 3-hour output
// takes minutes: the caller heartbeats from it).
func (r *Runner) DecodeCheck(ctx context.Context, input string, onProgress func(Progress)) error {
	args := []string{"-hide_banner", "-nostdin", "-v", "error"}
	var stdout func(io.Reader)
	if onProgress != nil {
		args = append(args, "-progress", "pipe:1", "-nostats")
		stdout = func(rd io.Reader) { parseProgress(rd, onProgress) }
	}
	args = append(append(args, SafeInput(input)...), "-i", input, "-map", "0", "-f", "null", "-")
	stderr, err := r.exec(ctx, "ffmpeg", r.FFmpeg, args, stdout)
	if err != nil {
		return fmt.Errorf("decoding %s: %w", Redact([]string{input})[0], err)
	}
	if s := strings.TrimSpace(stderr); s != "" {
		lines := strings.Split(s, "\n")
		return fmt.Errorf("decoding %s: %d error lines, first: %s", Redact([]string{input})[0], len(lines), lines[0])
	}
	return nil
}
