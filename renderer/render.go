package renderer

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Output is a rendered unit on local disk.
type Output struct {
	VideoPath, AudioPath string
	Encoder              string
	CUDA                 bool
	// Duration is the probed duration of the video.
	Duration float64
	Elapsed  time.Duration
}

// ffmpegRunner is what rendering needs of internal/ffmpeg.
type ffmpegRunner interface {
	Run(ctx context.Context, args []string, onProgress func(ffmpeg.Progress)) error
	Probe(ctx context.Context, input string) (proto.MediaInfo, error)
}

// RenderFiles renders unit u into dir (unit.ts, unit.flac and the graph
// script) with one ffmpeg run and checks the result: both files exist and
// last the unit's length within one video frame. onProgress may be nil.
func RenderFiles(ctx context.Context, r ffmpegRunner, u proto.RenderUnit, urls map[string]string, encoder string, cuda bool,
	dir string, onProgress func(ffmpeg.Progress)) (Output, error) {
	o := Options{Encoder: encoder, CUDA: cuda,
		VideoOut:  filepath.Join(dir, "unit."+proto.UnitVideoExt),
		AudioOut:  filepath.Join(dir, "unit."+proto.UnitAudioExt),
		GraphFile: filepath.Join(dir, "graph.txt")}
	cmd, err := Build(u, urls, o)
	if err != nil {
		return Output{}, err
	}
	if err := os.WriteFile(o.GraphFile, []byte(cmd.Graph), 0o644); err != nil {
		return Output{}, fmt.Errorf("writing the filter graph of unit %d: %w", u.Index, err)
	}
	start := time.Now()
	if err := r.Run(ctx, cmd.Args, onProgress); err != nil {
		return Output{}, fmt.Errorf("rendering unit %d of job %s with %s: %w", u.Index, u.Job, describe(encoder, cuda), err)
	}
	out := Output{VideoPath: o.VideoOut, AudioPath: o.AudioOut, Encoder: encoder, CUDA: cuda, Elapsed: time.Since(start)}
	if out.Duration, err = checkDuration(ctx, r, o.VideoOut, "video", cmd.Duration(u.FPS), 1/float64(u.FPS)); err != nil {
		return out, fmt.Errorf("checking unit %d of job %s: %w", u.Index, u.Job, err)
	}
	audio := float64(cmd.Samples) / float64(u.Encoding.AudioRate)
	if _, err := checkDuration(ctx, r, o.AudioOut, "audio", audio, 1/float64(u.FPS)); err != nil {
		return out, fmt.Errorf("checking unit %d of job %s: %w", u.Index, u.Job, err)
	}
	return out, nil
}

// checkDuration probes a rendered file and compares its duration with want
// (spec §5.9: ffmpeg can exit 0 having written an empty file).
func checkDuration(ctx context.Context, r ffmpegRunner, path, what string, want, tolerance float64) (float64, error) {
	info, err := r.Probe(ctx, path)
	if err != nil {
		return 0, fmt.Errorf("probing the rendered %s: %w", what, err)
	}
	if math.Abs(info.Duration-want) > tolerance+1e-3 {
		return info.Duration, fmt.Errorf("the rendered %s lasts %.3fs, want %.3fs", what, info.Duration, want)
	}
	return info.Duration, nil
}

func describe(encoder string, cuda bool) string {
	if cuda {
		return encoder + " and CUDA filters"
	}
	return encoder
}
