package finalize

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
)

// UnitFiles is one rendered unit on local disk: MPEG-TS H.264 video
// (proto.UnitVideoExt) and FLAC audio (proto.UnitAudioExt), both exactly the
// unit's length.
type UnitFiles struct {
	Video string
	Audio string
}

// AudioTrackFile is one audio-only session on local disk: Duration seconds
// from Offset into the file are heard from Start on the timeline. Duration 0
// means to the end of the file.
type AudioTrackFile struct {
	Path     string
	Start    float64
	Offset   float64
	Duration float64
}

// Chapter is one chapter of the output (one per slide change). End at or
// before Start means "until the next chapter".
type Chapter struct {
	Start float64
	End   float64
	Title string
}

// Input is what Run reads and writes.
type Input struct {
	Units         []UnitFiles      // in timeline order
	Tracks        []AudioTrackFile // audio-only sessions
	Duration      float64          // the output length (the API duration)
	Title         string           // title metadata
	Chapters      []Chapter        // one per slide change
	AudioRate     int              // sample rate of the unit audio and of the output
	AudioChannels int              // channels of the unit audio and of the output
	AudioBitrate  string           // AAC bitrate, e.g. "128k"
	FPS           int              // frame rate: the duration tolerance is one frame
	// FanIn is the most tracks or intermediate mixes one mixing process
	// reads, 2..8 (spec §5.2); 0 means 8.
	FanIn   int
	WorkDir string // scratch; Run works in a directory it creates here and removes
	Output  string // the final MP4
	// Premixed, instead of Tracks, is the audio-only tracks already mixed
	// by Premix (one FLAC file over the whole timeline, made while the units
	// rendered); PremixedTracks is how many tracks are in it.
	Premixed       string
	PremixedTracks int
}

// Result is what Run did.
type Result struct {
	// Warnings a user should see: skipped audio tracks, units whose audio
	// length did not match their video.
	Warnings []string
	// Mixed is how many audio-only tracks are in the output.
	Mixed int
	// Media is the checked output.
	Media proto.MediaInfo
}

// ErrInput is wrapped by errors about a Input that cannot
// work (a caller bug, or a unit that was rendered wrong).
var ErrInput = errors.New("bad finalize input")

// Run turns rendered units (on local disk) into the finished MP4:
//
//   - probe: every unit (its video and audio must be usable and the videos
//     must add up to the job duration) and every audio-only track (an
//     unusable one is skipped with a warning);
//   - mix: the audio-only tracks are mixed in batches of at most FanIn
//     inputs, each delayed to its start inside the filter graph, and the
//     batch files are tree-reduced, FanIn at a time, until the final mux can
//     take the rest; every intermediate is a FLAC file, deleted as soon as it
//     is consumed;
//   - mux: one ffmpeg process joins the unit videos by stream copy, joins the
//     unit audio, mixes in what is left of the tree (amix normalize=0: every
//     voice at its own level), pads or cuts the audio to exactly Duration,
//     encodes AAC once, and writes title, chapters and +faststart;
//   - check: CheckOutput on the written file; only a file that passes is
//     renamed to Output.
//
// Run returns the warnings (skipped tracks, units whose audio length was
// off) in the result whether or not it fails. The work directory it creates
// inside WorkDir is removed on return, and Output is never left half-written.
// progress, when not nil, is called with the stage ("probe", "mix", "mux",
// "check") and the fraction of that stage done.
func Run(ctx context.Context, r *ffmpeg.Runner, in Input, progress func(stage string, fraction float64)) (Result, error) {
	f := &finalizer{r: r, in: in, report: progress}
	if f.report == nil {
		f.report = func(string, float64) {}
	}
	err := f.run(ctx)
	return f.res, err
}

type finalizer struct {
	r      *ffmpeg.Runner
	in     Input
	report func(string, float64)
	res    Result
	format audioFormat
	fanIn  int
	dir    string // the work directory of this run

	// mix progress: processes finished and planned.
	done, planned int
}

func (in Input) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, args...))
	}
	switch {
	case len(in.Units) == 0:
		return bad("no units to join")
	case !(in.Duration > 0) || math.IsInf(in.Duration, 0):
		return bad("duration %g is not a positive number of seconds", in.Duration)
	case in.FPS < 1 || in.FPS > 120:
		return bad("fps %d is outside 1..120", in.FPS)
	case in.AudioRate < 8000 || in.AudioRate > 192000:
		return bad("audio rate %d is outside 8000..192000", in.AudioRate)
	case in.AudioChannels < 1 || in.AudioChannels > 8:
		return bad("audio channels %d is outside 1..8", in.AudioChannels)
	case strings.TrimSpace(in.AudioBitrate) == "":
		return bad("no AAC bitrate (e.g. 128k)")
	case in.FanIn != 0 && (in.FanIn < 2 || in.FanIn > maxInputs):
		return bad("fan-in %d is outside 2..%d", in.FanIn, maxInputs)
	case in.WorkDir == "":
		return bad("no work directory")
	case in.Output == "":
		return bad("no output path")
	case in.Premixed != "" && len(in.Tracks) > 0:
		return bad("both audio tracks and a premix of them")
	}
	for i, u := range in.Units {
		if u.Video == "" || u.Audio == "" {
			return bad("unit %d lacks its video or audio file", i)
		}
		if strings.ContainsAny(u.Video+u.Audio, "\r\n") {
			return bad("unit %d has a line break in a file name (a concat list cannot hold it)", i)
		}
	}
	return nil
}

func (f *finalizer) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.res.Warnings = append(f.res.Warnings, msg)
	f.r.Log.Warn().Str("stage", "finalize").Msg(msg)
}

func (f *finalizer) run(ctx context.Context) error {
	if err := f.in.validate(); err != nil {
		return err
	}
	if err := f.absPaths(); err != nil {
		return err
	}
	in := f.in
	f.format = audioFormat{Rate: in.AudioRate, Channels: in.AudioChannels}
	f.fanIn = in.FanIn
	if f.fanIn == 0 {
		f.fanIn = maxInputs
	}
	if err := os.MkdirAll(in.WorkDir, 0o755); err != nil {
		return fmt.Errorf("creating finalize work directory: %w", err)
	}
	dir, err := os.MkdirTemp(in.WorkDir, "finalize-")
	if err != nil {
		return fmt.Errorf("creating finalize work directory: %w", err)
	}
	f.dir = dir
	defer os.RemoveAll(dir)

	f.report("probe", 0)
	var paths []string
	for _, u := range f.in.Units {
		paths = append(paths, u.Video, u.Audio)
	}
	for _, t := range f.in.Tracks {
		paths = append(paths, t.Path)
	}
	probes := f.probeMany(ctx, paths)
	unitDurations, err := f.probeUnits(probes[:2*len(f.in.Units)])
	if err != nil {
		return err
	}
	tracks, err := f.probeTracks(ctx, probes[2*len(f.in.Units):])
	if err != nil {
		return err
	}
	f.report("probe", 1)

	mixes, err := f.mix(ctx, tracks)
	if err != nil {
		return err
	}
	owned := mixes // removed once muxed; a premix is the caller's
	if in.Premixed != "" {
		mixes = []string{in.Premixed}
		f.res.Mixed = in.PremixedTracks
	}

	spec := muxSpec{
		VideoList: filepath.Join(dir, "video.ffconcat"),
		AudioList: filepath.Join(dir, "audio.ffconcat"),
		Metadata:  filepath.Join(dir, "metadata.txt"),
		Mixes:     mixes,
		Audio:     f.format,
		Bitrate:   in.AudioBitrate,
		Duration:  in.Duration,
	}
	videos, audios := make([]string, len(in.Units)), make([]string, len(in.Units))
	for i, u := range in.Units {
		videos[i], audios[i] = u.Video, u.Audio
	}
	for _, w := range []struct{ path, text string }{
		{spec.VideoList, concatList(videos, nil)},
		{spec.AudioList, concatList(audios, unitDurations)},
		{spec.Metadata, ffmetadata(in.Title, in.Chapters, in.Duration)},
	} {
		if err := os.WriteFile(w.path, []byte(w.text), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Base(w.path), err)
		}
	}

	if err := os.MkdirAll(filepath.Dir(in.Output), 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	partial := filepath.Join(filepath.Dir(in.Output), "."+filepath.Base(in.Output)+".partial")
	spec.Output = partial
	defer os.Remove(partial) // gone after the rename; removes a failed attempt
	f.report("mux", 0)
	err = f.r.Run(ctx, muxArgs(spec), func(p ffmpeg.Progress) {
		f.report("mux", clamp01(p.OutTime.Seconds()/in.Duration))
	})
	if err != nil {
		return fmt.Errorf("muxing %s: %w", filepath.Base(in.Output), err)
	}
	for _, m := range owned {
		os.Remove(m)
	}
	f.report("mux", 1)

	f.report("check", 0)
	media, err := CheckOutput(ctx, f.r, partial, in.Duration, in.FPS, func(frac float64) { f.report("check", frac) })
	if err != nil {
		return err
	}
	f.res.Media = media
	if err := os.Rename(partial, in.Output); err != nil {
		return fmt.Errorf("moving the output into place: %w", err)
	}
	f.report("check", 1)
	f.r.Log.Info().Str("stage", "finalize").Str("output", in.Output).Float64("duration", media.Duration).
		Int("tracks", f.res.Mixed).Int("warnings", len(f.res.Warnings)).Msg("finalized")
	return nil
}

// absPaths makes every path in f.in absolute (on copies of the caller's
// slices): ffmpeg would read "name:x.m4a" as a protocol, and concat lists
// need absolute paths.
func (f *finalizer) absPaths() error {
	abs := func(what string, p *string) error {
		a, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("resolving the path of %s: %w", what, err)
		}
		*p = a
		return nil
	}
	f.in.Units = slices.Clone(f.in.Units)
	f.in.Tracks = slices.Clone(f.in.Tracks)
	if f.in.Premixed != "" {
		if err := abs("the premixed audio", &f.in.Premixed); err != nil {
			return err
		}
	}
	for i := range f.in.Units {
		if err := abs(fmt.Sprintf("unit %d video", i), &f.in.Units[i].Video); err != nil {
			return err
		}
		if err := abs(fmt.Sprintf("unit %d audio", i), &f.in.Units[i].Audio); err != nil {
			return err
		}
	}
	for i := range f.in.Tracks {
		if err := abs(fmt.Sprintf("audio track %d", i), &f.in.Tracks[i].Path); err != nil {
			return err
		}
	}
	if err := abs("the work directory", &f.in.WorkDir); err != nil {
		return err
	}
	return abs("the output", &f.in.Output)
}

// probeParallel is how many ffprobe processes finalize runs at once: a
// probe is mostly process start and file open, so a few at a time take a
// fraction of the serial time (40 audio-only tracks: 6 s one by one here).
const probeParallel = 4

// probed is one ffprobe's answer.
type probed struct {
	info proto.MediaInfo
	err  error
}

// probeMany probes paths, probeParallel at a time, reporting progress as
// each finishes; the answers are in the order of paths.
func (f *finalizer) probeMany(ctx context.Context, paths []string) []probed {
	out := make([]probed, len(paths))
	var mu sync.Mutex
	done := 0
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := f.r.Probe(ctx, p)
			out[i] = probed{m, err}
			mu.Lock()
			done++
			f.report("probe", float64(done)/float64(len(paths)))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// probeUnits checks every unit and returns the video duration of each. The
// video durations must add up to the job duration within a frame: units are
// joined by stream copy, so a wrong length cannot be fixed here.
func (f *finalizer) probeUnits(probes []probed) ([]float64, error) {
	in := f.in
	frame := 1 / float64(in.FPS)
	durations := make([]float64, len(in.Units))
	total := 0.0
	for i, u := range in.Units {
		v, err := probes[2*i].info, probes[2*i].err
		if err != nil {
			return nil, fmt.Errorf("probing unit %d video: %w", i, err)
		}
		if !v.HasVideo || v.VideoCodec != "h264" || !(v.Duration > 0) {
			return nil, fmt.Errorf("%w: unit %d video %s is not H.264 video with a duration (codec %q, %g s): re-render the unit",
				ErrInput, i, u.Video, v.VideoCodec, v.Duration)
		}
		a, err := probes[2*i+1].info, probes[2*i+1].err
		if err != nil {
			return nil, fmt.Errorf("probing unit %d audio: %w", i, err)
		}
		if !a.HasAudio || !(a.Duration > 0) {
			return nil, fmt.Errorf("%w: unit %d audio %s has no audio stream with a duration: re-render the unit",
				ErrInput, i, u.Audio)
		}
		if d := a.Duration - v.Duration; math.Abs(d) > frame {
			f.warn("unit %d: audio is %.3f s, video %.3f s; the audio is aligned to the video", i, a.Duration, v.Duration)
		}
		durations[i] = v.Duration
		total += v.Duration
	}
	if math.Abs(total-in.Duration) > frame+1e-3 {
		return nil, fmt.Errorf("%w: the %d units' video adds up to %.3f s, the recording is %.3f s: a unit was rendered with the wrong length",
			ErrInput, len(in.Units), total, in.Duration)
	}
	return durations, nil
}

// probeTracks keeps the audio-only tracks that can be mixed, clipped to the
// timeline, and warns about the rest.
func (f *finalizer) probeTracks(ctx context.Context, probes []probed) ([]numberedTrack, error) {
	in := f.in
	var out []numberedTrack
	for i, t := range in.Tracks {
		name := filepath.Base(t.Path)
		m, err := probes[i].info, probes[i].err
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probing audio track %d: %w", i, ctx.Err())
		}
		if err == nil {
			err = m.Validate()
		}
		if err == nil && !m.HasAudio {
			err = errors.New("it has no audio stream")
		}
		if err != nil {
			f.warn("audio track %d (%s) skipped: it cannot be read: %v", i, name, oneLine(err))
			continue
		}
		mt := mixTrack{Path: t.Path, Start: t.Start, Offset: t.Offset, Duration: t.Duration}
		if mt.Start < 0 { // began before the recording: skip its first part
			mt.Offset -= mt.Start
			if mt.Duration > 0 {
				mt.Duration += mt.Start
			}
			mt.Start = 0
		}
		mt.Offset = max(mt.Offset, 0)
		avail := m.Duration - mt.Offset
		if mt.Duration <= 0 || mt.Duration > avail {
			mt.Duration = avail
		}
		if mt.Start >= in.Duration || mt.Duration <= 0 {
			f.warn("audio track %d (%s) skipped: it would be heard from %.3f s for %.3f s, outside the recording (0–%.3f s)",
				i, name, mt.Start, mt.Duration, in.Duration)
			continue
		}
		out = append(out, numberedTrack{n: i, mixTrack: mt})
	}
	return out, nil
}

// numberedTrack is a track with its index in Input.Tracks, for
// warnings.
type numberedTrack struct {
	n int
	mixTrack
}

// finalSlots is how many intermediate mixes the final mux reads itself.
func (f *finalizer) finalSlots() int { return min(f.fanIn, maxInputs-muxFixedInputs) }

// mix mixes the tracks into at most finalSlots intermediate files.
func (f *finalizer) mix(ctx context.Context, tracks []numberedTrack) ([]string, error) {
	if len(tracks) == 0 {
		return nil, nil // fast path: the unit audio goes straight to the AAC encode
	}
	f.report("mix", 0)
	defer f.report("mix", 1)
	batches := groups(len(tracks), f.fanIn)
	f.planned = len(batches)
	for n := len(batches); n > f.finalSlots(); {
		n = len(groups(n, f.fanIn))
		f.planned += n
	}
	var files []string
	at := 0
	for i, size := range batches {
		out := filepath.Join(f.dir, fmt.Sprintf("batch-%03d.flac", i))
		ok, err := f.mixBatch(ctx, tracks[at:at+size], out)
		if err != nil {
			return nil, err
		}
		at += size
		if ok {
			files = append(files, out)
		}
		f.done++
	}
	for level := 1; len(files) > f.finalSlots(); level++ {
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
				return nil, fmt.Errorf("mixing audio tracks (level %d, group %d): %w", level, i, err)
			}
			for _, g := range group {
				os.Remove(g)
			}
			next = append(next, out)
			f.done++
		}
		files = next
	}
	return files, nil
}

// mixBatch mixes tracks into out. When ffmpeg fails, the batch is split in
// halves and each is tried alone, so one bad track loses only itself (spec
// §5.15); a single track that fails is skipped with a warning. It reports
// whether out was written; the error is only for cancellation and failures
// that are not a track's fault.
func (f *finalizer) mixBatch(ctx context.Context, tracks []numberedTrack, out string) (bool, error) {
	plain := make([]mixTrack, len(tracks))
	for i, t := range tracks {
		plain[i] = t.mixTrack
	}
	err := f.runMix(ctx, batchArgs(plain, f.format, f.in.Duration, out))
	if err == nil {
		f.res.Mixed += len(tracks)
		return true, nil
	}
	os.Remove(out)
	var xe *ffmpeg.ExitError
	if ctx.Err() != nil || !errors.As(err, &xe) {
		return false, fmt.Errorf("mixing audio tracks: %w", err)
	}
	if len(tracks) == 1 {
		t := tracks[0]
		f.warn("audio track %d (%s) skipped: decoding it failed: %s", t.n, filepath.Base(t.Path), oneLine(err))
		return false, nil
	}
	f.r.Log.Warn().Str("stage", "finalize").Int("tracks", len(tracks)).Str("error", oneLine(err)).
		Msg("audio batch failed; mixing its halves separately")
	h := len(tracks) / 2
	a, b := strings.TrimSuffix(out, ".flac")+"a.flac", strings.TrimSuffix(out, ".flac")+"b.flac"
	okA, err := f.mixBatch(ctx, tracks[:h], a)
	if err != nil {
		return false, err
	}
	okB, err := f.mixBatch(ctx, tracks[h:], b)
	if err != nil {
		os.Remove(a)
		return false, err
	}
	switch {
	case okA && okB:
		err := f.runMix(ctx, reduceArgs([]string{a, b}, f.format, out))
		os.Remove(a)
		os.Remove(b)
		if err != nil {
			return false, fmt.Errorf("mixing audio tracks: %w", err)
		}
		return true, nil
	case okA:
		return true, os.Rename(a, out)
	case okB:
		return true, os.Rename(b, out)
	}
	return false, nil
}

// runMix runs one mixing process, reporting mix progress.
func (f *finalizer) runMix(ctx context.Context, args []string) error {
	return f.r.Run(ctx, args, func(p ffmpeg.Progress) {
		part := clamp01(p.OutTime.Seconds() / f.in.Duration)
		f.report("mix", clamp01((float64(f.done)+part)/float64(max(f.planned, 1))))
	})
}

// groups splits n items into the fewest groups of at most size items, as
// even as possible (9 by 8 → 5 and 4, not 8 and 1).
func groups(n, size int) []int {
	if n <= 0 {
		return nil
	}
	k := (n + size - 1) / size
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

func clamp01(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return min(x, 1)
}

// oneLine shortens an error for a warning: ffmpeg's stderr tail is reduced
// to its last line.
func oneLine(err error) string {
	var xe *ffmpeg.ExitError
	if errors.As(err, &xe) {
		lines := strings.Split(strings.TrimSpace(xe.Stderr), "\n")
		return fmt.Sprintf("%s exited with status %d: %s", xe.Program, xe.Code, strings.TrimSpace(lines[len(lines)-1]))
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
