package finalize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The finalize step's ffmpeg command lines, built by pure functions (golden
// tests in finalize_args_test.go). Runner.Run prepends -hide_banner -nostdin
// -y (and -progress when asked), so none of these carry them.

// maxInputs is the most inputs one finalize ffmpeg process opens (spec §5.2:
// one amix over every track was OOM-killed on long recordings).
const maxInputs = 8

// muxFixedInputs are the final mux's own inputs: the joined unit video, the
// joined unit audio and the ffmetadata file (title and chapters).
const muxFixedInputs = 3

// audioFormat is what every mixed stream is converted to (spec §5.8: one
// sample rate everywhere, so no mix meets a mismatch).
type audioFormat struct {
	Rate     int
	Channels int
}

// layout is the ffmpeg channel layout name for the channel count.
func (a audioFormat) layout() string {
	switch a.Channels {
	case 1:
		return "mono"
	case 2:
		return "stereo"
	}
	return fmt.Sprintf("%dc", a.Channels)
}

// aformat converts to planar float at the mix rate and layout: amix works in
// float, and naming the layout keeps ffmpeg's format negotiation from picking
// the smallest layout of the inputs for the whole graph.
func (a audioFormat) aformat() string {
	return fmt.Sprintf("aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s", a.Rate, a.layout())
}

// samples is t seconds in samples at the mix rate.
func (a audioFormat) samples(t float64) int64 { return int64(math.Round(t * float64(a.Rate))) }

// mixTrack is one audio-only track as a batch reads it: Duration seconds from
// Offset into Path, heard from Start on the timeline.
type mixTrack struct {
	Path     string
	Start    float64
	Offset   float64
	Duration float64 // 0: to the end of the file
}

// intermediateCodec is how every intermediate mix is stored: FLAC, lossless
// and compressed (silence costs almost nothing), 24 bits so the float mix
// keeps its precision. Spec §5.3: never uncompressed PCM per track.
func intermediateCodec() []string {
	return []string{"-c:a", "flac", "-sample_fmt", "s32", "-compression_level", "2"}
}

// amix sums n inputs at full level: normalize=0 keeps every voice at its own
// volume instead of dividing by the input count.
func amix(n int, duration string) string {
	return fmt.Sprintf("amix=inputs=%d:duration=%s:normalize=0:dropout_transition=0", n, duration)
}

// batchArgs mixes up to maxInputs audio-only tracks into one FLAC file on the
// timeline from 0 to the end of its latest track (at most end seconds). Each
// track is read only for its own span (input-side -ss/-t), resampled, delayed
// to its start inside the filter graph (spec §5.3: no pre-delayed files) and
// cut at the job's end.
func batchArgs(tracks []mixTrack, a audioFormat, end float64, out string) []string {
	var args []string
	for _, t := range tracks {
		if t.Offset > 0 {
			args = append(args, "-ss", fsecs(t.Offset))
		}
		if t.Duration > 0 {
			args = append(args, "-t", fsecs(t.Duration))
		}
		args = append(args, "-i", t.Path)
	}
	var g strings.Builder
	for i, t := range tracks {
		fmt.Fprintf(&g, "[%d:a]", i)
		if a.Channels == 2 {
			// A mono microphone goes to both channels at its own level, as
			// the renderer upmixes webcam audio, not 3 dB down as ffmpeg's
			// default upmix puts it; stereo passes unchanged.
			g.WriteString("pan=stereo|FL=FL+FC|FR=FR+FC,")
		}
		fmt.Fprintf(&g, "aresample=%d,%s,asetpts=N/SR/TB", a.Rate, a.aformat())
		if d := a.samples(t.Start); d > 0 {
			fmt.Fprintf(&g, ",adelay=delays=%dS:all=1", d)
		}
		fmt.Fprintf(&g, ",atrim=end_sample=%d", a.samples(end))
		if len(tracks) == 1 {
			g.WriteString("[mix]")
			break
		}
		fmt.Fprintf(&g, "[t%d];", i)
	}
	if len(tracks) > 1 {
		for i := range tracks {
			fmt.Fprintf(&g, "[t%d]", i)
		}
		g.WriteString(amix(len(tracks), "longest") + "[mix]")
	}
	args = append(args, "-filter_complex", g.String(), "-map", "[mix]")
	args = append(args, intermediateCodec()...)
	return append(args, "-f", "flac", out)
}

// reduceArgs mixes up to maxInputs intermediate mixes (all at the mix format,
// all starting at 0) into one.
func reduceArgs(inputs []string, a audioFormat, out string) []string {
	var args []string
	for _, in := range inputs {
		args = append(args, "-i", in)
	}
	var g strings.Builder
	for i := range inputs {
		fmt.Fprintf(&g, "[%d:a]%s[m%d];", i, a.aformat(), i)
	}
	for i := range inputs {
		fmt.Fprintf(&g, "[m%d]", i)
	}
	g.WriteString(amix(len(inputs), "longest") + "[mix]")
	args = append(args, "-filter_complex", g.String(), "-map", "[mix]")
	args = append(args, intermediateCodec()...)
	return append(args, "-f", "flac", out)
}

// muxSpec is everything the final mux reads and writes.
type muxSpec struct {
	VideoList string   // concat-demuxer list of the unit videos
	AudioList string   // concat-demuxer list of the unit audio files
	Metadata  string   // ffmetadata file: title and chapters
	Mixes     []string // intermediate mixes of the audio-only tracks (none: fast path)
	Audio     audioFormat
	Bitrate   string  // AAC bitrate
	Duration  float64 // the output length
	Output    string
}

// muxArgs is the one process that writes the output: the unit videos joined
// by stream copy (no re-encode), the unit audio joined and, when there are
// audio-only tracks, mixed with their intermediate mixes at full level, padded
// or cut to exactly Duration, encoded to AAC (the only AAC encode of the
// job), with title and chapters from the ffmetadata input and the moov atom
// moved to the front (+faststart).
func muxArgs(m muxSpec) []string {
	args := []string{
		"-f", "concat", "-safe", "0", "-i", m.VideoList,
		"-f", "concat", "-safe", "0", "-i", m.AudioList,
		"-f", "ffmetadata", "-i", m.Metadata,
	}
	for _, in := range m.Mixes {
		args = append(args, "-i", in)
	}
	n := m.Audio.samples(m.Duration)
	// The concat list places every unit's audio at its video's start; async
	// with a 1 ms threshold then fills the gap after a unit whose audio is
	// short and cuts the overlap of one whose audio is long, so no unit's
	// error carries over to the next.
	unit := fmt.Sprintf("[1:a]aresample=%d:async=1:min_hard_comp=0.001:first_pts=0,%s", m.Audio.Rate, m.Audio.aformat())
	tail := fmt.Sprintf("apad=whole_len=%d,atrim=end_sample=%d[aout]", n, n)
	var g strings.Builder
	if len(m.Mixes) == 0 {
		g.WriteString(unit + "," + tail)
	} else {
		g.WriteString(unit + "[u];")
		for i := range m.Mixes {
			fmt.Fprintf(&g, "[%d:a]%s[m%d];", muxFixedInputs+i, m.Audio.aformat(), i)
		}
		g.WriteString("[u]")
		for i := range m.Mixes {
			fmt.Fprintf(&g, "[m%d]", i)
		}
		g.WriteString(amix(1+len(m.Mixes), "first") + "," + tail)
	}
	args = append(args, "-filter_complex", g.String(),
		"-map", "0:v:0", "-map", "[aout]",
		"-c:v", "copy",
		"-c:a", "aac", "-b:a", m.Bitrate, "-ar", strconv.Itoa(m.Audio.Rate), "-ac", strconv.Itoa(m.Audio.Channels),
		"-map_metadata", "2", "-map_chapters", "2",
		"-movflags", "+faststart",
		"-f", "mp4", m.Output)
	return args
}

// concatList is a concat-demuxer list of files. When durations is not nil,
// each file gets a duration directive: the next file then starts exactly that
// much later, whatever the file's own length.
func concatList(paths []string, durations []float64) string {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for i, p := range paths {
		// Inside single quotes only the quote itself needs escaping: close,
		// escaped quote, reopen.
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(p, "'", `'\''`))
		if durations != nil {
			fmt.Fprintf(&b, "duration %s\n", fsecs(durations[i]))
		}
	}
	return b.String()
}

// ffmetadata is the metadata input of the final mux: the title and one
// chapter per slide change, clipped to [0, duration]. Chapters that end up
// empty are dropped; an End at or before Start means "until the next
// chapter" (or the end).
func ffmetadata(title string, chapters []Chapter, duration float64) string {
	var b strings.Builder
	b.WriteString(";FFMETADATA1\n")
	if title != "" {
		b.WriteString("title=" + metaEscape(title) + "\n")
	}
	end := int64(math.Round(duration * 1000))
	for i, c := range chapters {
		s := int64(math.Round(c.Start * 1000))
		e := int64(math.Round(c.End * 1000))
		if c.End <= c.Start {
			e = end
			if i+1 < len(chapters) {
				e = int64(math.Round(chapters[i+1].Start * 1000))
			}
		}
		s, e = max(s, 0), min(e, end)
		if e <= s {
			continue
		}
		name := c.Title
		if strings.TrimSpace(name) == "" {
			name = fmt.Sprintf("Slide %d", i+1)
		}
		fmt.Fprintf(&b, "[CHAPTER]\nTIMEBASE=1/1000\nSTART=%d\nEND=%d\ntitle=%s\n", s, e, metaEscape(name))
	}
	return b.String()
}

// metaEscape escapes an ffmetadata value: '=', ';', '#' and '\' take a
// backslash; line breaks become spaces.
func metaEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "=", `\=`, ";", `\;`, "#", `\#`, "\r\n", " ", "\n", " ", "\r", " ")
	return r.Replace(s)
}

// fsecs formats seconds for ffmpeg: microsecond precision, no trailing zeros.
func fsecs(t float64) string {
	s := strconv.FormatFloat(t, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
