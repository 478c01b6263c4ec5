package finalize

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrBadOutput is wrapped by CheckOutput's errors about the file itself.
var ErrBadOutput = errors.New("the output failed its check")

// CheckOutput checks a finished MP4 before the job is marked done: it has a
// video and an audio stream, each exactly duration seconds long (±1 frame at
// fps), and it decodes from start to end without a single error. It returns
// what ffprobe found. progress, when not nil, hears the fraction decoded.
func CheckOutput(ctx context.Context, r *ffmpeg.Runner, path string, duration float64, fps int, progress func(float64)) (proto.MediaInfo, error) {
	if fps < 1 {
		return proto.MediaInfo{}, fmt.Errorf("checking %s: fps %d is not positive", path, fps)
	}
	m, err := r.Probe(ctx, path)
	if err != nil {
		return m, fmt.Errorf("checking %s: %w", path, err)
	}
	if !m.HasVideo || !m.HasAudio {
		return m, fmt.Errorf("%w: %s has video %v and audio %v, want both", ErrBadOutput, path, m.HasVideo, m.HasAudio)
	}
	video, audio, err := r.StreamDurations(ctx, path)
	if err != nil {
		return m, fmt.Errorf("checking %s: %w", path, err)
	}
	// One frame, plus a millisecond for the rounding of stated durations.
	tol := 1/float64(fps) + 1e-3
	for _, s := range []struct {
		name string
		d    float64
	}{{"video", video}, {"audio", audio}} {
		if math.Abs(s.d-duration) > tol {
			return m, fmt.Errorf("%w: %s's %s is %.3f s long, want %.3f s (±1 frame)", ErrBadOutput, path, s.name, s.d, duration)
		}
	}
	var onProgress func(ffmpeg.Progress)
	if progress != nil {
		onProgress = func(p ffmpeg.Progress) { progress(min(1, max(0, p.OutTime.Seconds()/duration))) }
	}
	if err := r.DecodeCheck(ctx, path, onProgress); err != nil {
		if ctx.Err() != nil {
			return m, fmt.Errorf("checking %s: %w", path, err)
		}
		return m, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	return m, nil
}
