package renderer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Options choose how a unit is encoded and where its files go.
type Options struct {
	// Encoder is EncoderX264 or EncoderNVENC.
	Encoder string
	// CUDA decodes, scales and composes on the GPU (EncoderNVENC only).
	CUDA bool
	// VideoOut and AudioOut are the output files (MPEG-TS and FLAC).
	VideoOut, AudioOut string
	// GraphFile is where the caller writes Command.Graph before running
	// (the graph of a long unit is too long for one argument).
	GraphFile string
}

// Command is one unit's ffmpeg run.
type Command struct {
	// Args is the argv without the program name (ffmpeg.Runner adds
	// -hide_banner -nostdin -y and the -progress options).
	Args []string
	// Graph is the filter graph, to be written to Options.GraphFile.
	Graph string
	// Frames and Samples are the exact lengths of the video and audio.
	Frames  int
	Samples int64
	// Inputs are the ids of the sources ffmpeg opens, in input order.
	Inputs []string
}

// Duration is the video's length in seconds.
func (c Command) Duration(fps int) float64 { return float64(c.Frames) / float64(fps) }

// Build returns the ffmpeg run that renders unit u. urls maps source ids to
// where ffmpeg reads them (a file path or an http(s) URL that allows range
// requests); a source missing from urls is treated as absent: black where it
// would be shown, silent where it would be heard.
func Build(u proto.RenderUnit, urls map[string]string, o Options) (Command, error) {
	p, err := planUnit(u, urls)
	if err != nil {
		return Command{}, fmt.Errorf("planning unit %d of job %s: %w", u.Index, u.Job, err)
	}
	enc, err := encoderArgs(u.Encoding, o.Encoder, o.CUDA)
	if err != nil {
		return Command{}, fmt.Errorf("unit %d of job %s: %w", u.Index, u.Job, err)
	}
	if o.VideoOut == "" || o.AudioOut == "" || o.GraphFile == "" {
		return Command{}, fmt.Errorf("unit %d of job %s: VideoOut, AudioOut and GraphFile must be set", u.Index, u.Job)
	}
	c := Command{Graph: buildGraph(u, p, o.CUDA), Frames: p.frames, Samples: p.samples}
	a := []string{"-v", "error"}
	if o.CUDA {
		a = append(a, "-init_hw_device", "cuda=cu", "-filter_hw_device", "cu")
	}
	for _, in := range p.inputs {
		a = append(a, inputArgs(in, o.CUDA)...)
		c.Inputs = append(c.Inputs, in.src.ID)
	}
	a = append(a, "-filter_complex_script", o.GraphFile)
	a = append(a, "-map", "["+videoOut+"]")
	a = append(a, enc...)
	// Timestamps from 0 (the muxer's default offset is 1.4 s): a unit file
	// seeks and joins at the times its unit says.
	a = append(a, "-frames:v", strconv.Itoa(p.frames), "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", o.VideoOut)
	a = append(a, "-map", "["+audioOut+"]", "-c:a", "flac", "-sample_fmt", "s16",
		"-ar", strconv.Itoa(u.Encoding.AudioRate), "-ac", strconv.Itoa(u.Encoding.AudioChannels),
		"-f", "flac", o.AudioOut)
	c.Args = a
	return c, nil
}

// inputArgs opens one source: only the streams the unit uses, only the
// range it needs (input-side seek, so a long source is read from Offset on
// and for Duration only).
func inputArgs(in *input, cuda bool) []string {
	var a []string
	if in.src.Kind == proto.SourceSlide {
		return append(a, "-i", in.url)
	}
	video, audio := in.branches > 0, len(in.heard) > 0
	if video {
		if cuda {
			// Decoded frames stay on the GPU; a few extra surfaces cover the
			// frames the graph holds (fps, overlay) while the decoder goes on.
			a = append(a, "-hwaccel", "cuda", "-hwaccel_device", "cu", "-hwaccel_output_format", "cuda",
				"-extra_hw_frames", "8")
		}
		// Webcams change resolution mid-stream; the graph's scale and
		// overlay follow such changes, while re-creating the graph would
		// restart every window.
		a = append(a, "-reinit_filter", "0")
	} else {
		a = append(a, "-vn")
	}
	if !audio {
		a = append(a, "-an")
	}
	if in.src.Offset > 0 {
		a = append(a, "-ss", seconds(in.src.Offset))
	}
	a = append(a, "-t", seconds(in.src.Duration))
	if strings.HasPrefix(in.url, "http://") || strings.HasPrefix(in.url, "https://") {
		a = append(a, "-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "10")
	}
	return append(a, "-i", in.url)
}
