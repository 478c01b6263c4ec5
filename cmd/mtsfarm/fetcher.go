package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/fetcher"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

const fetcherUsage = `fetcher [flags]

Run a fetcher of a farm: the only process that talks to MTS Link. It resolves
recording flows and downloads media chunks (direct with Range resume, or HLS
when the direct file lacks video) and slides into the object store, each
validated with ffprobe and stored once for every job. Only http(s) URLs on MTS
Link hosts (*.mts-link.ru, *.webinar.ru), the --mts-base-url hosts and the
--allow-host hosts are ever requested.`

// fetcherFlags are the fetcher settings shared by `fetcher` and `run`.
type fetcherFlags struct {
	cfg        fetcher.Config
	baseURLs   stringList
	allowHosts stringList
}

func (f *fetcherFlags) register(fs *flag.FlagSet) {
	f.cfg = fetcher.DefaultConfig()
	fs.Var(&f.baseURLs, "mts-base-url", "also accept recordings under this MTS Link base URL (a fake server) and allow its host; repeatable")
	fs.Var(&f.allowHosts, "allow-host", "also fetch media from this host (host, host:port or *.domain); repeatable")
	fs.IntVar(&f.cfg.Slots, "slots", f.cfg.Slots, "fetch tasks worked on at once by this node")
	fs.IntVar(&f.cfg.PerHost, "per-host", f.cfg.PerHost, "downloads at once from one host (MTS drops connections above a few)")
	fs.StringVar(&f.cfg.WorkDir, "work-dir", f.cfg.WorkDir, "directory for temp files while downloading")
	fs.IntVar(&f.cfg.Attempts, "attempts", f.cfg.Attempts, "downloads of a file that arrives corrupt before it is reported invalid")
	fs.DurationVar(&f.cfg.StallTimeout, "stall-timeout", f.cfg.StallTimeout, "resume a download that receives nothing for this long")
	fs.Int64Var(&f.cfg.MaxChunkBytes, "max-chunk-bytes", f.cfg.MaxChunkBytes, "largest media or slide file fetched, in bytes (0: no cap); a bigger one is refused and left out with a warning")
	fs.BoolVar(&f.cfg.DecodeCheck, "decode-check", f.cfg.DecodeCheck, "also decode every media file completely before storing it (slow)")
}

// config returns the settings with the repeatable flags applied.
func (f *fetcherFlags) config() fetcher.Config {
	c := f.cfg
	c.MTSBaseURLs = append([]string(nil), f.baseURLs...)
	c.AllowHosts = append([]string(nil), f.allowHosts...)
	c.Version = buildVersion()
	return c
}

func runFetcher(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "fetcher", fetcherUsage)
	var role roleFlags
	role.register(fs, env)
	var ff fetcherFlags
	ff.register(fs)
	fs.StringVar(&ff.cfg.WorkerID, "worker-id", workerID("fetcher"), "unique name of this fetcher")
	role.ops.registerHTTP(fs)
	log, err := role.parse(env, fs, args)
	if err != nil {
		return err
	}
	cfg := ff.config()
	cfg.DrainGrace = role.ops.grace
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	m := ops.NewMetrics(proto.RoleFetcher)
	return role.runWorker(ctx, env, proto.RoleFetcher, cfg.WorkerID, proto.StreamFetch, m, log, func(js jetstream.JetStream, store blob.Store) error {
		w, err := fetcher.New(cfg, fetcher.Deps{JS: js, Store: store, FFmpeg: ffmpeg.New(log), Log: log, Metrics: m})
		if err != nil {
			return err
		}
		return w.Run(ctx)
	})
}
