package renderer

import (
	"fmt"
	"strconv"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Encoders a renderer can use.
const (
	EncoderX264  = "libx264"
	EncoderNVENC = "h264_nvenc"
)

// encoderArgs are the video codec options of a unit. Both encoders make the
// same kind of stream, so units from any renderer join by stream copy:
//
//   - H.264 High, 4:2:0 8-bit, a keyframe (IDR) every Encoding.GOP frames and
//     never elsewhere (no scene-cut keyframes), so every unit starts on an IDR
//     and every GOP is closed;
//   - SPS/PPS repeated in-band before every IDR (both encoders do this when
//     the muxer asks for no global header, as MPEG-TS does);
//   - no B-frames, so DTS equals PTS. Encoders reorder B-frames with different
//     delays (x264 veryfast: 2 frames, NVENC: 0 or 1), and joining a unit with
//     a longer delay after one with a shorter delay gives non-monotonous DTS
//     at the junction, which the muxer "fixes" by rewriting timestamps. The
//     cost is a few percent of bitrate at the same quality.
func encoderArgs(enc proto.Encoding, encoder string, cuda bool) ([]string, error) {
	gop := strconv.Itoa(enc.GOP)
	q := strconv.Itoa(enc.Quality)
	switch encoder {
	case EncoderX264:
		if cuda {
			return nil, fmt.Errorf("the CUDA filter path needs %s, not %s", EncoderNVENC, encoder)
		}
		preset := enc.Preset
		if preset == "" {
			preset = "veryfast"
		}
		if _, ok := nvencPreset(preset); !ok {
			return nil, fmt.Errorf("%w: x264 preset %q is not one of ultrafast … placebo", proto.ErrInvalid, preset)
		}
		return []string{"-c:v", EncoderX264, "-preset", preset, "-crf", q,
			"-profile:v", profile(enc), "-pix_fmt", enc.PixFmt,
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-bf", "0"}, nil
	case EncoderNVENC:
		x264 := enc.Preset
		if x264 == "" {
			x264 = "veryfast"
		}
		preset, ok := nvencPreset(x264)
		if !ok {
			return nil, fmt.Errorf("%w: x264 preset %q is not one of ultrafast … placebo", proto.ErrInvalid, enc.Preset)
		}
		args := []string{"-c:v", EncoderNVENC, "-preset", preset, "-tune", "hq", "-rc", "vbr", "-cq", q, "-b:v", "0",
			"-profile:v", profile(enc)}
		if !cuda {
			// CUDA frames are NV12 already (4:2:0 8-bit, the same stream).
			args = append(args, "-pix_fmt", enc.PixFmt)
		}
		return append(args, "-g", gop, "-bf", "0", "-no-scenecut", "1", "-forced-idr", "1"), nil
	}
	return nil, fmt.Errorf("unknown encoder %q (want %s or %s)", encoder, EncoderX264, EncoderNVENC)
}

func profile(enc proto.Encoding) string {
	if enc.Profile == "" {
		return "high"
	}
	return enc.Profile
}

// nvencPreset maps an x264 preset to the NVENC preset (p1 fastest … p7
// best) of about the same compression efficiency. NVENC is so much cheaper
// than x264 that matching efficiency rather than speed keeps file sizes of
// GPU and CPU units alike.
func nvencPreset(x264 string) (string, bool) {
	switch x264 {
	case "ultrafast":
		return "p1", true
	case "superfast":
		return "p2", true
	case "veryfast", "faster":
		return "p4", true
	case "fast":
		return "p5", true
	case "medium":
		return "p6", true
	case "slow", "slower", "veryslow", "placebo":
		return "p7", true
	}
	return "", false
}
