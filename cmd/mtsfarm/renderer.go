package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/mtsfarm/mtsfarm/renderer"
)

const rendererUsage = `renderer [flags]

Run a renderer of a farm: it takes render units, composes each with one
ffmpeg process (h264_nvenc, with CUDA decode/scale/overlay when they work
here, else libx264) and stores the unit's video and lossless audio. It reads
its inputs from the object store (presigned URLs with seeking on S3, files on
a local store) and needs no internet access. Start more renderers to render
faster; nothing else changes.`

// rendererFlags are the renderer settings shared by `renderer` and `run`.
type rendererFlags struct {
	cfg renderer.Config
}

func (f *rendererFlags) register(fs *flag.FlagSet) {
	f.cfg = renderer.DefaultConfig()
	fs.IntVar(&f.cfg.Slots, "slots", f.cfg.Slots, "units rendered at once by this node (one ffmpeg already uses every core)")
	fs.StringVar(&f.cfg.Encoder, "encoder", f.cfg.Encoder, "video encoder: auto (h264_nvenc when a test encode works, else libx264), libx264 or h264_nvenc")
	fs.BoolVar(&f.cfg.CUDA, "cuda", f.cfg.CUDA, "use CUDA decode/scale/overlay with h264_nvenc when ffmpeg's CUDA filters work here")
	fs.DurationVar(&f.cfg.StallTimeout, "stall-timeout", f.cfg.StallTimeout, "kill an ffmpeg whose output does not advance for this long and hand its unit back")
	fs.StringVar(&f.cfg.WorkDir, "work-dir", f.cfg.WorkDir, "directory for the unit files while rendering")
}

// config returns the settings.
func (f *rendererFlags) config() renderer.Config {
	c := f.cfg
	c.Version = buildVersion()
	return c
}

func runRenderer(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "renderer", rendererUsage)
	var role roleFlags
	role.register(fs, env)
	var rf rendererFlags
	rf.register(fs)
	fs.StringVar(&rf.cfg.WorkerID, "worker-id", workerID("renderer"), "unique name of this renderer")
	role.ops.registerHTTP(fs)
	log, err := role.parse(env, fs, args)
	if err != nil {
		return err
	}
	cfg := rf.config()
	cfg.DrainGrace = role.ops.grace
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	m := ops.NewMetrics(proto.RoleRenderer)
	return role.runWorker(ctx, env, proto.RoleRenderer, cfg.WorkerID, proto.StreamRender, m, log, func(js jetstream.JetStream, store blob.Store) error {
		w, err := renderer.New(cfg, renderer.Deps{JS: js, Store: store, FFmpeg: ffmpeg.New(log), Log: log, Metrics: m})
		if err != nil {
			return err
		}
		return w.Run(ctx)
	})
}
