package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/coordinator"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

const coordinatorUsage = `coordinator [flags]

Run a coordinator of a farm: the job API (micro service "mtsfarm"), the
durable intake, job state and dispatch, and the finalize tasks. Run two or
more for high availability; they share the work.`

// coordFlags are the coordinator settings shared by `coordinator` and `run`.
type coordFlags struct {
	cfg      coordinator.Config
	baseURLs stringList
}

func (f *coordFlags) register(fs *flag.FlagSet) {
	f.cfg = coordinator.DefaultConfig()
	fs.Var(&f.baseURLs, "mts-base-url", "also accept recording URLs under this base URL (a fake MTS Link server); repeatable")
	fs.Float64Var(&f.cfg.UnitSeconds, "unit-seconds", f.cfg.UnitSeconds, "default render unit length in seconds")
	fs.IntVar(&f.cfg.MaxHeight, "max-height", f.cfg.MaxHeight, "default output height cap")
	fs.StringVar(&f.cfg.OutputName, "output-name", f.cfg.OutputName, "output name template: {title}, {job}, {session}, {course}")
	fs.StringVar(&f.cfg.AudioBitrate, "audio-bitrate", f.cfg.AudioBitrate, "AAC bitrate of the output")
	fs.IntVar(&f.cfg.Encoding.Quality, "quality", f.cfg.Encoding.Quality, "video quality (x264 CRF / NVENC CQ, lower is better)")
	fs.StringVar(&f.cfg.Encoding.Preset, "preset", f.cfg.Encoding.Preset, "x264 preset (NVENC maps it to its own)")
	fs.DurationVar(&f.cfg.RetainScratch, "retain-scratch", f.cfg.RetainScratch,
		"delete a finished job's rendered units and audio this long after it ended (0: keep them); outputs and media stay")
	fs.DurationVar(&f.cfg.RetainJobs, "retain-jobs", f.cfg.RetainJobs,
		"delete a finished job's record and its remaining objects this long after it ended (0: keep them); outputs and media stay")
}

func runCoordinator(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "coordinator", coordinatorUsage)
	var role roleFlags
	role.register(fs, env)
	var cf coordFlags
	cf.register(fs)
	fs.StringVar(&cf.cfg.WorkerID, "worker-id", workerID("coordinator"), "unique name of this coordinator")
	fs.StringVar(&cf.cfg.WorkDir, "work-dir", cf.cfg.WorkDir, "scratch directory for finalizing")
	replicas := fs.Int("replicas", 1, "stream replicas when provisioning (3 on a production cluster)")
	provision := fs.Bool("provision", true, "create or update the streams, consumers and KV buckets at start")
	var dash dashFlags
	dash.register(fs)
	log, err := role.parse(env, fs, args)
	if err != nil {
		return err
	}
	cf.cfg.MTSBaseURLs, cf.cfg.Log = cf.baseURLs, log
	store, nc, err := role.connect(ctx, cf.cfg.WorkerID)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, 10*time.Second)
	if *provision {
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		// NATS may still be starting (a rollout, a cluster electing its
		// JetStream leader): wait for it a while instead of exiting.
		if err := bus.ProvisionWait(ctx, js, bus.Definitions(*replicas), 2*time.Minute, log); err != nil {
			return fmt.Errorf("provisioning: %w", err)
		}
	}
	m := ops.NewMetrics(proto.RoleCoordinator)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	m.Registry().MustRegister(ops.NewQueueDepth(js, ops.FarmQueues))
	cf.cfg.Metrics, cf.cfg.DrainGrace = m, role.ops.grace
	c, err := coordinator.New(ctx, cf.cfg, nc, store, ffmpeg.New(log))
	if err != nil {
		return err
	}
	if err := dash.start(ctx, env, nc, store, log, opsHandler(ctx, m, nc, store)); err != nil {
		return err
	}
	return c.Run(ctx)
}
