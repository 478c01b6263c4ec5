package ffmpeg

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// StreamDurations returns the durations in seconds of the first video stream
// and the first audio stream of input, as the container states them (for MP4
// the track durations, edit lists applied). A stream that is absent or has no
// stated duration gives 0. Probe reports only the longest stream; this is for
// checks that every stream has the right length.
func (r *Runner) StreamDurations(ctx context.Context, input string) (video, audio float64, err error) {
	args := append([]string{"-v", "error", "-show_entries", "stream=codec_type,duration:stream_disposition=attached_pic",
		"-of", "json"}, SafeInput(input)...)
	args = append(args, input)
	out, err := r.output(ctx, "ffprobe", r.FFprobe, args, 4<<20)
	if err != nil {
		return 0, 0, fmt.Errorf("probing stream durations of %s: %w", Redact([]string{input})[0], err)
	}
	var p struct {
		Streams []struct {
			CodecType   string `json:"codec_type"`
			Duration    string `json:"duration"`
			Disposition struct {
				AttachedPic int `json:"attached_pic"`
			} `json:"disposition"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return 0, 0, fmt.Errorf("reading ffprobe output for %s: %w", Redact([]string{input})[0], err)
	}
	var seenV, seenA bool
	for _, s := range p.Streams {
		d, _ := strconv.ParseFloat(s.Duration, 64)
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0 && !seenV:
			video, seenV = d, true
		case s.CodecType == "audio" && !seenA:
			audio, seenA = d, true
		}
	}
	return video, audio, nil
}
