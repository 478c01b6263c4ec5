package ffmpeg

import (
	"context"
	"strings"
	"time"
)

// detectTimeout bounds each capability test encode: a broken driver can hang.
const detectTimeout = 30 * time.Second

// Detect reports what this machine's ffmpeg can really do. Listing an encoder
// proves nothing (Debian's ffmpeg lists h264_nvenc on machines without a
// GPU), so NVENC and the CUDA filters count only when a tiny test encode
// succeeds. The result is computed once per Runner.
func (r *Runner) Detect(ctx context.Context) Capabilities {
	r.detectOnce.Do(func() { r.caps = r.detect(ctx) })
	return r.caps
}

func (r *Runner) detect(ctx context.Context) Capabilities {
	var c Capabilities
	try := func(args ...string) bool {
		tctx, cancel := context.WithTimeout(ctx, detectTimeout)
		defer cancel()
		return r.Run(tctx, args, nil) == nil
	}
	if try(NVENCTestArgs()...) {
		c.NVENC = true
		c.Encoders = append(c.Encoders, "h264_nvenc")
		c.CUDAFilters = try(CUDATestArgs()...)
	}
	if try(X264TestArgs()...) {
		c.Encoders = append(c.Encoders, "libx264")
	}
	if c.NVENC {
		tctx, cancel := context.WithTimeout(ctx, detectTimeout)
		defer cancel()
		if out, err := r.output(tctx, "nvidia-smi", "nvidia-smi",
			[]string{"--query-gpu=name", "--format=csv,noheader"}, 4096); err == nil {
			c.GPU = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	r.Log.Info().Bool("nvenc", c.NVENC).Bool("cuda_filters", c.CUDAFilters).Str("gpu", c.GPU).
		Strs("encoders", c.Encoders).Msg("ffmpeg capabilities")
	return c
}

// NVENCTestArgs encodes a fifth of a second of black with h264_nvenc.
func NVENCTestArgs() []string {
	return []string{"-v", "error", "-f", "lavfi", "-i", "color=c=black:s=256x144:r=25:d=0.2",
		"-c:v", "h264_nvenc", "-f", "null", "-"}
}

// CUDATestArgs runs the CUDA filters the renderer uses (upload, scale_cuda,
// overlay_cuda) into h264_nvenc.
func CUDATestArgs() []string {
	return []string{"-v", "error", "-init_hw_device", "cuda=cu", "-filter_hw_device", "cu",
		"-f", "lavfi", "-i", "color=c=black:s=256x144:r=25:d=0.2",
		"-f", "lavfi", "-i", "color=c=red:s=128x72:r=25:d=0.2",
		"-filter_complex", "[0:v]format=nv12,hwupload[a];[1:v]format=yuva420p,hwupload,scale_cuda=64:36[b];[a][b]overlay_cuda=x=8:y=8[v]",
		"-map", "[v]", "-c:v", "h264_nvenc", "-f", "null", "-"}
}

// X264TestArgs encodes a fifth of a second of black with libx264.
func X264TestArgs() []string {
	return []string{"-v", "error", "-f", "lavfi", "-i", "color=c=black:s=256x144:r=25:d=0.2",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"}
}
