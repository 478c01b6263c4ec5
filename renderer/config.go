package renderer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Encoder preferences of a worker.
const (
	EncoderAuto = "auto" // h264_nvenc when a test encode works, else libx264
)

// Config is a renderer's configuration. Start from DefaultConfig.
type Config struct {
	// WorkerID names this renderer in results, events, presence and logs; it
	// must be unique in the farm (its temp directory is keyed by it, and
	// RenderUnit.ExcludeWorkers names it).
	WorkerID string
	// Slots is how many units render at once. One ffmpeg already uses every
	// core; more slots help only on machines with spare GPU capacity.
	Slots int
	// Encoder is EncoderAuto, EncoderX264 or EncoderNVENC.
	Encoder string
	// CUDA allows the CUDA decode/scale/overlay path when ffmpeg's CUDA
	// filters work on this machine (NVENC units only).
	CUDA bool
	// StallTimeout: an ffmpeg whose output does not advance for this long
	// is killed and the unit handed back.
	StallTimeout time.Duration
	// WorkDir holds per-unit temp directories (under WorkDir/<WorkerID>),
	// removed on success, failure and shutdown.
	WorkDir string
	// URLExpiry is how long presigned input URLs stay valid; it must outlast
	// the longest render.
	URLExpiry time.Duration
	// ProgressEvery is the least time between two progress events of a unit.
	ProgressEvery time.Duration
	// PresenceEvery is how often the presence entry is renewed.
	PresenceEvery time.Duration
	// CPUCooldown: after an NVENC render is OOM-killed, this worker renders
	// with libx264 for this long (spec §5.11: stay on CPU).
	CPUCooldown time.Duration
	// AckWait overrides the consumer's ack wait for heartbeats (0: read it
	// from the consumer).
	AckWait time.Duration
	// PollWait is how long an idle worker waits for a unit in one pull (0:
	// the worker loop's default); Run returns at most this long after its
	// context ends.
	PollWait time.Duration
	// Version goes into the presence entry.
	Version string
	// DrainGrace is how long a unit being rendered may go on after the
	// worker is told to stop (SIGTERM) before it is handed back; 0 hands it
	// back at once.
	DrainGrace time.Duration
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		WorkerID:      proto.DefaultWorkerID(proto.RoleRenderer, host),
		Slots:         1,
		Encoder:       EncoderAuto,
		CUDA:          true,
		StallTimeout:  2 * time.Minute,
		WorkDir:       filepath.Join(os.TempDir(), "mtsfarm-renderer"),
		URLExpiry:     12 * time.Hour,
		ProgressEvery: time.Second,
		PresenceEvery: 10 * time.Second,
		CPUCooldown:   30 * time.Minute,
	}
}

// Validate checks the configuration and says what to change.
func (c Config) Validate() error {
	var errs []error
	if !proto.ValidWorkerID(c.WorkerID) {
		errs = append(errs, fmt.Errorf("worker id %q: use 1-64 characters of a-z, 0-9, _ and - (--worker-id)", c.WorkerID))
	}
	if c.Slots < 1 || c.Slots > 64 {
		errs = append(errs, fmt.Errorf("slots %d: want 1..64 (--slots)", c.Slots))
	}
	switch c.Encoder {
	case EncoderAuto, EncoderX264, EncoderNVENC:
	default:
		errs = append(errs, fmt.Errorf("encoder %q: want auto, libx264 or h264_nvenc (--encoder)", c.Encoder))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is empty: set --work-dir to a directory for temp files"))
	}
	durations := []struct {
		name string
		d    time.Duration
	}{{"stall timeout (--stall-timeout)", c.StallTimeout}, {"URL expiry", c.URLExpiry},
		{"progress interval", c.ProgressEvery}, {"presence interval", c.PresenceEvery}}
	for _, d := range durations {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", d.name))
		}
	}
	if c.CPUCooldown < 0 || c.AckWait < 0 || c.PollWait < 0 || c.DrainGrace < 0 {
		errs = append(errs, errors.New("CPU cooldown, ack wait and poll wait must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("renderer config: %w", err)
	}
	return nil
}

// Deps are what a renderer works with.
type Deps struct {
	// JS is the farm's JetStream (provisioned with bus.Definitions); its
	// connection also carries the core-NATS cancel announcements.
	JS jetstream.JetStream
	// Store holds the inputs and receives the rendered units.
	Store blob.Store
	// FFmpeg renders, probes and detects the encoders.
	FFmpeg *ffmpeg.Runner
	Log    zerolog.Logger
	// Metrics counts the work for /metrics, the micro service's stats and
	// the presence entry (nil: counted for the latter two only).
	Metrics *ops.Metrics
}

func (d Deps) validate() error {
	switch {
	case d.JS == nil:
		return errors.New("renderer: no JetStream connection")
	case d.Store == nil:
		return errors.New("renderer: no object store")
	case d.FFmpeg == nil:
		return errors.New("renderer: no ffmpeg runner")
	}
	return nil
}
