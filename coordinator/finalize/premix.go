package finalize

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
)

// PremixInput is what Premix reads: the audio-only tracks of a job and the
// output's timeline and audio format.
type PremixInput struct {
	Tracks        []AudioTrackFile
	Duration      float64 // the output length
	AudioRate     int     // as Input.AudioRate
	AudioChannels int     // as Input.AudioChannels
	FanIn         int     // as Input.FanIn
	WorkDir       string  // scratch; removed on return
	Output        string  // the mixed FLAC (written only when a track is mixed)
}

// Premix mixes a job's audio-only tracks into one FLAC file over the whole
// timeline, as Run's probe and mix stages would, so that it can run while
// the units render: Run with Input.Premixed then only joins, encodes and
// checks. It returns the warnings (skipped tracks) and how many tracks it
// mixed; with none mixed it writes no Output. Output is never left
// half-written.
func Premix(ctx context.Context, r *ffmpeg.Runner, in PremixInput, progress func(stage string, fraction float64)) (Result, error) {
	switch {
	case len(in.Tracks) == 0:
		return Result{}, fmt.Errorf("%w: no audio tracks to premix", ErrInput)
	case !(in.Duration > 0) || math.IsInf(in.Duration, 0):
		return Result{}, fmt.Errorf("%w: duration %g is not a positive number of seconds", ErrInput, in.Duration)
	case in.AudioRate < 8000 || in.AudioRate > 192000 || in.AudioChannels < 1 || in.AudioChannels > 8:
		return Result{}, fmt.Errorf("%w: audio %d Hz, %d channels", ErrInput, in.AudioRate, in.AudioChannels)
	case in.FanIn != 0 && (in.FanIn < 2 || in.FanIn > maxInputs):
		return Result{}, fmt.Errorf("%w: fan-in %d is outside 2..%d", ErrInput, in.FanIn, maxInputs)
	case in.WorkDir == "" || in.Output == "":
		return Result{}, fmt.Errorf("%w: no work directory or output path", ErrInput)
	}
	f := &finalizer{r: r, report: progress, in: Input{Tracks: in.Tracks, Duration: in.Duration, AudioRate: in.AudioRate,
		AudioChannels: in.AudioChannels, FanIn: in.FanIn, WorkDir: in.WorkDir, Output: in.Output}}
	if f.report == nil {
		f.report = func(string, float64) {}
	}
	if err := f.absPaths(); err != nil {
		return Result{}, err
	}
	f.format = audioFormat{Rate: in.AudioRate, Channels: in.AudioChannels}
	f.fanIn = in.FanIn
	if f.fanIn == 0 {
		f.fanIn = maxInputs
	}
	if err := os.MkdirAll(f.in.WorkDir, 0o755); err != nil {
		return f.res, fmt.Errorf("creating premix work directory: %w", err)
	}
	dir, err := os.MkdirTemp(f.in.WorkDir, "premix-")
	if err != nil {
		return f.res, fmt.Errorf("creating premix work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	f.dir = dir

	f.report("probe", 0)
	paths := make([]string, len(f.in.Tracks))
	for i, t := range f.in.Tracks {
		paths[i] = t.Path
	}
	tracks, err := f.probeTracks(ctx, f.probeMany(ctx, paths))
	if err != nil {
		return f.res, err
	}
	f.report("probe", 1)
	files, err := f.mix(ctx, tracks)
	if err != nil {
		return f.res, err
	}
	// Down to one file, FanIn at a time.
	for level := 100; len(files) > 1; level++ {
		var next []string
		at := 0
		for i, size := range groups(len(files), f.fanIn) {
			group := files[at : at+size]
			at += size
			if size == 1 {
				next = append(next, group[0])
				continue
			}
			out := filepath.Join(f.dir, fmt.Sprintf("reduce-%d-%03d.flac", level, i))
			if err := f.runMix(ctx, reduceArgs(group, f.format, out)); err != nil {
				return f.res, fmt.Errorf("mixing audio tracks (premix level %d, group %d): %w", level, i, err)
			}
			next = append(next, out)
		}
		files = next
	}
	if len(files) == 0 {
		return f.res, nil // every track skipped (warned)
	}
	if err := os.MkdirAll(filepath.Dir(f.in.Output), 0o755); err != nil {
		return f.res, fmt.Errorf("creating the premix's directory: %w", err)
	}
	if err := os.Rename(files[0], f.in.Output); err != nil {
		return f.res, fmt.Errorf("moving the premix into place: %w", err)
	}
	return f.res, nil
}
