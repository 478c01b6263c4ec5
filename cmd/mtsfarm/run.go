package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/coordinator"
	"github.com/mtsfarm/mtsfarm/fetcher"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/mtsfarm/mtsfarm/renderer"
)

const runUsage = `run [flags] URL
       run --http HOST:PORT [flags]

Render one recording in this process: an embedded NATS server with
JetStream, a local object store, a coordinator, fetchers and a renderer, all
talking exactly as a farm does. Everything lives in the data dir, so running
the same command again after Ctrl-C resumes where it stopped, and a second
recording reuses every chunk already downloaded.

With --http the farm's web dashboard is served for as long as the run
lasts; with --http and no URL the farm stays up until Ctrl-C, for jobs
submitted from the dashboard (with --http-token) or with nats req.`

// runFlags are the flags of `mtsfarm run`.
type runFlags struct {
	out, dataDir, cookie, listen, encoder, progress string
	fetchSlots, renderSlots                         int
	coord                                           coordFlags
	dash                                            dashFlags
	log                                             logFlags
}

func runRun(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "run", runUsage)
	var f runFlags
	fs.StringVar(&f.out, "o", "", "output MP4 file (default: the sanitized title, .mp4, in the current directory)")
	fs.StringVar(&f.cookie, "session-cookie", "", "sessionId cookie for private recordings (from a logged-in browser)")
	f.registerFarm(fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 && f.dash.addr != "" {
		return embeddedServe(ctx, env, f)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one recording URL (or --http HOST:PORT to serve the farm and its dashboard)", errUsage)
	}
	// A URL the job API would reject is refused before anything is made
	// (no data dir, no embedded server), as the cookie is.
	if _, err := mts.ParseURL(fs.Arg(0), f.coord.baseURLs...); err != nil {
		return err
	}
	if f.cookie != "" {
		if _, err := mts.CleanCookie(f.cookie); err != nil {
			return fmt.Errorf("--session-cookie: %w", err)
		}
	}
	return embeddedRun(ctx, env, f, fs.Arg(0))
}

// registerFarm registers the flags of the embedded farm (shared by run and
// archive) and of its progress display.
func (f *runFlags) registerFarm(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "JetStream store, object store and scratch files")
	fs.StringVar(&f.listen, "listen", "", "also listen for NATS clients on HOST:PORT, so the nats CLI can watch (port 0: any free port); off by default")
	fs.StringVar(&f.encoder, "encoder", renderer.EncoderAuto, "auto (NVENC when it works), libx264 or h264_nvenc")
	fs.StringVar(&f.progress, "progress", "auto", "auto (bars on a terminal), bars, lines or none")
	fs.IntVar(&f.fetchSlots, "fetchers", 2, "downloads at once")
	fs.IntVar(&f.renderSlots, "renderers", 1, "units rendered at once")
	f.coord.register(fs)
	f.dash.register(fs)
	// Progress goes to the terminal; logs only say what needs attention.
	f.log.registerLevel(fs, "warn")
}

// farm is the embedded farm of `mtsfarm run`.
type farm struct {
	emb   *bus.Embedded
	nc    *nats.Conn
	store *blob.Local
	stop  context.CancelFunc
	wg    sync.WaitGroup
	errs  chan error
}

func listenAddr(s string) (string, int, error) {
	if s == "" {
		return "", 0, nil
	}
	host, p, err := net.SplitHostPort(s)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: --listen %q: want HOST:PORT", errUsage, s)
	}
	if port == 0 {
		port = -1 // any free port (bus.EmbeddedConfig: 0 means no listener)
	}
	return host, port, nil
}

// startFarm starts every role in this process.
func startFarm(ctx context.Context, f runFlags, log zerolog.Logger) (*farm, error) {
	host, port, err := listenAddr(f.listen)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(f.dataDir, "work")
	for _, d := range []string{f.dataDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("making the data dir: %w", err)
		}
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: filepath.Join(f.dataDir, "nats"), Host: host, Port: port,
		ServerName: "mtsfarm-run", Log: log})
	if err != nil {
		return nil, err
	}
	fm := &farm{emb: emb, errs: make(chan error, 4)}
	fail := func(err error) (*farm, error) { fm.close(); return nil, err }
	if fm.nc, err = emb.Connect(nats.Name("mtsfarm run")); err != nil {
		return fail(err)
	}
	js, err := jetstream.New(fm.nc)
	if err != nil {
		return fail(err)
	}
	// This process is the only worker of its streams: tasks it held when it
	// last stopped are delivered again at once, not after an ack wait.
	top := bus.Definitions(1)
	if err := bus.ResetConsumers(ctx, js, top); err != nil {
		return fail(err)
	}
	if err := bus.Provision(ctx, js, top); err != nil {
		return fail(fmt.Errorf("provisioning the embedded NATS (a data dir from an older mtsfarm? use a fresh --data-dir): %w", err))
	}
	if fm.store, err = blob.NewLocal(filepath.Join(f.dataDir, "store")); err != nil {
		return fail(err)
	}
	ff := ffmpeg.New(log)
	cc := f.coord.cfg
	cc.WorkerID, cc.WorkDir, cc.MTSBaseURLs, cc.Log = "coordinator-local", work, f.coord.baseURLs, log
	coord, err := coordinator.New(ctx, cc, fm.nc, fm.store, ff)
	if err != nil {
		return fail(err)
	}
	fc := fetcher.DefaultConfig()
	fc.WorkerID, fc.Slots, fc.WorkDir, fc.MTSBaseURLs, fc.Version = "fetcher-local", f.fetchSlots, work, f.coord.baseURLs, buildVersion()
	fetch, err := fetcher.New(fc, fetcher.Deps{JS: js, Store: fm.store, FFmpeg: ff, Log: log})
	if err != nil {
		return fail(err)
	}
	rc := renderer.DefaultConfig()
	rc.WorkerID, rc.Slots, rc.WorkDir, rc.Encoder, rc.Version = "renderer-local", f.renderSlots, work, f.encoder, buildVersion()
	render, err := renderer.New(rc, renderer.Deps{JS: js, Store: fm.store, FFmpeg: ff, Log: log})
	if err != nil {
		return fail(err)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	fm.stop = stop
	for _, run := range []func(context.Context) error{coord.Run, fetch.Run, render.Run} {
		fm.wg.Add(1)
		go func() {
			defer fm.wg.Done()
			if err := run(rctx); err != nil && rctx.Err() == nil {
				fm.errs <- err
			}
		}()
	}
	return fm, nil
}

// close stops the roles, then the connection and the server.
func (fm *farm) close() {
	if fm.stop != nil {
		fm.stop()
		done := make(chan struct{})
		go func() { fm.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}
	if fm.nc != nil {
		bus.Drain(fm.nc, 10*time.Second)
	}
	fm.emb.Shutdown()
}

// startFarmAndDashboard starts the embedded farm, says where NATS clients
// can attach (--listen) and serves the dashboard (--http).
func startFarmAndDashboard(ctx context.Context, env *cli, f runFlags, log zerolog.Logger) (*farm, error) {
	fm, err := startFarm(ctx, f, log)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		fmt.Fprintf(env.stderr, "NATS clients can attach at %s\n", fm.emb.ClientURL())
	}
	if err := f.dash.start(ctx, env, fm.nc, fm.store, log, nil); err != nil {
		fm.close()
		return nil, err
	}
	return fm, nil
}

func embeddedRun(ctx context.Context, env *cli, f runFlags, url string) error {
	show := newProgressView(env.stderr, f.progress)
	defer show.close()
	log, _ := f.log.loggerVia(env.stderr, viewWriter(show, env.stderr))
	fm, err := startFarmAndDashboard(ctx, env, f, log)
	if err != nil {
		return err
	}
	defer fm.close()
	job, err := submitLocal(ctx, fm.nc, proto.SubmitRequest{URL: url, SessionCookie: f.cookie})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "job %s: %s\n", job.ID, job.URL)
	final, err := followJob(ctx, fm.nc, fm.errs, job.ID, show)
	show.close()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped; run the same command again to resume (state kept in %s)", f.dataDir)
		}
		return err
	}
	for _, w := range final.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	if final.State != proto.StateDone {
		msg := final.Error
		if msg == "" {
			msg = "no reason recorded"
		}
		return fmt.Errorf("job %s %s: %s", final.ID, final.State, msg)
	}
	out := f.out
	if out == "" {
		out = filepath.Base(final.OutputKey)
	}
	info, err := fm.store.GetFile(ctx, final.OutputKey, out)
	if err != nil {
		return fmt.Errorf("copying the output to %s: %w", out, err)
	}
	fmt.Fprintf(env.stdout, "%s\t%.1f MB\t%s\n", out, float64(info.Size)/1e6, fmtSeconds(final.Duration))
	return nil
}

// embeddedServe runs the embedded farm and its dashboard until ctx ends
// (Ctrl-C) or a role stops.
func embeddedServe(ctx context.Context, env *cli, f runFlags) error {
	log, _ := f.log.loggerVia(env.stderr, env.stderr)
	fm, err := startFarmAndDashboard(ctx, env, f, log)
	if err != nil {
		return err
	}
	defer fm.close()
	fmt.Fprintf(env.stderr, "the farm runs until Ctrl-C (state kept in %s)\n", f.dataDir)
	select {
	case <-ctx.Done():
		return nil
	case err := <-fm.errs:
		return fmt.Errorf("a farm role stopped: %w", err)
	}
}

// submitLocal submits through the job API like any client, waiting for the
// coordinator to come up, and retries a failed earlier job of the same
// recording (that is what running the command again means).
func submitLocal(ctx context.Context, nc *nats.Conn, req proto.SubmitRequest) (proto.SubmittedJob, error) {
	var reply proto.SubmitReply
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := apiRequest(ctx, nc, proto.SubjectSubmit, req, &reply)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !errors.Is(err, errNoCoordinator) {
			return proto.SubmittedJob{}, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	job := reply.Jobs[0]
	ended := job.Existing && (job.State == proto.StateFailed || job.State == proto.StateCanceled)
	if ended && req.SessionCookie != "" && !req.Force {
		// The earlier job may have failed for want of this cookie, and a
		// retry keeps its own spec: a new job takes the cookie (the media
		// already fetched is reused from the store).
		req.Force = true
		return submitLocal(ctx, nc, req)
	}
	if ended {
		var j proto.Job
		if err := apiRequest(ctx, nc, proto.SubjectRetry, proto.JobRequest{Job: job.ID}, &j); err != nil {
			return job, fmt.Errorf("retrying the earlier job %s: %w", job.ID, err)
		}
		job.State = j.State
	}
	return job, nil
}

// followJob shows a job's progress until it ends and returns its record.
// errs, when not nil, carries the fatal errors of the embedded farm's roles.
func followJob(ctx context.Context, nc *nats.Conn, errs <-chan error, id string, show progressView) (*proto.Job, error) {
	meter := newJobMeter()
	sub, err := nc.Subscribe(proto.EventSubject(id, proto.EventProgress), meter.observe)
	if err == nil {
		defer sub.Unsubscribe()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var j proto.Job
		if err := apiRequest(ctx, nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j); err != nil {
			return nil, err
		}
		show.update(id, meter.shot(&j, time.Now()))
		if j.State.Terminal() {
			return &j, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-errs:
			return nil, fmt.Errorf("a farm role stopped: %w", err)
		case <-tick.C:
		}
	}
}
