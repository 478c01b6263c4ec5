// Package ffmpeg runs ffmpeg and ffprobe for every role: one Runner executes
// argv built elsewhere by pure functions, with context cancellation (SIGINT,
// then kill after a grace period), -progress parsing into a callback, and a
// bounded stderr tail kept for errors. It also probes media into
// proto.MediaInfo and detects which encoders and CUDA filters really work.
package ffmpeg

import (
	"fmt"
	"time"
)

// Progress is one block of ffmpeg's -progress output.
type Progress struct {
	Frame     int64
	FPS       float64
	OutTime   time.Duration // position of the output written so far
	TotalSize int64         // bytes written
	Speed     float64       // x realtime; 0 when unknown
	End       bool          // progress=end
}

// ExitError is returned when ffmpeg or ffprobe exits unsuccessfully.
type ExitError struct {
	Program string   // "ffmpeg" or "ffprobe"
	Args    []string // argv without the program, for logs (redact URLs before logging)
	Code    int      // exit code; -1 when killed by a signal
	Signal  string   // signal name when killed by one ("killed", "interrupt")
	Stderr  string   // the last bytes of stderr
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("%s killed by signal %s: %s", e.Program, e.Signal, e.Stderr)
	}
	return fmt.Sprintf("%s exited with status %d: %s", e.Program, e.Code, e.Stderr)
}

// OOMKilled reports whether the process died the way the kernel OOM killer
// kills (SIGKILL, or exit status 137 from a wrapper), spec §5.11.
func (e *ExitError) OOMKilled() bool {
	return e.Signal == "killed" || e.Code == 137 || e.Code == -9
}

// Capabilities is what this machine's ffmpeg can really do.
type Capabilities struct {
	// NVENC is true only when a tiny h264_nvenc test encode succeeded.
	NVENC bool
	// CUDAFilters is true only when a tiny scale_cuda/overlay_cuda graph ran.
	CUDAFilters bool
	// GPU is the GPU name (nvidia-smi), empty when none.
	GPU string
	// Encoders lists usable H.264 encoders, best first ("h264_nvenc", "libx264").
	Encoders []string
}
