package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/fsname"
	"github.com/mtsfarm/mtsfarm/proto"
)

const archiveUsage = `archive [flags] FILE

Archive a whole course: FILE lists the recordings, one URL per line (blank
lines and # comments allowed), or is a JSON/YAML manifest:

  course: Go для всех
  session_cookie: …          # course-wide, for private recordings
  recordings:
    - url: https://my.mts-link.ru/…/record-new/…
      title: Лекция 1        # instead of the recording's own title
      date: 2026-09-01
      session_cookie: …      # this recording's own

Each recording becomes a job, on the farm given by --nats-url or, without
one, on an embedded farm in this process (as mtsfarm run), at most
--parallel at once. Outputs go to --out-dir, named by --name. Run it again
after new recordings were added or some failed: recordings whose output is
there and passes the check are skipped, failed ones are retried, new ones
added. archive-report.json in --out-dir says what became of each recording;
the exit status is 0 only when every one is archived.`

// archiveFlags are the flags of `mtsfarm archive`.
type archiveFlags struct {
	farm     runFlags // the embedded farm
	nats     natsFlags
	store    storeFlags
	outDir   string
	name     string
	course   string
	cookie   string
	parallel int
	force    bool
}

func runArchive(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "archive", archiveUsage)
	var f archiveFlags
	f.farm.registerFarm(fs)
	f.nats.register(fs, env)
	f.nats.url = "" // only --nats-url (or MTSFARM_NATS_URL) picks a remote farm
	fs.Lookup("nats-url").DefValue = ""
	fs.Lookup("nats-url").Usage = "archive on this farm (with --store-dir or --s3-… to fetch its outputs); default: an embedded farm"
	f.store.register(fs)
	fs.StringVar(&f.outDir, "out-dir", ".", "where the outputs and archive-report.json go")
	fs.StringVar(&f.name, "name", "", "output path template: {course}, {title}, {date}, {index}, {session} (default "+defaultArchiveName+", or the manifest's name)")
	fs.StringVar(&f.course, "course", "", "course name (default the manifest's course, or the list file's name)")
	fs.StringVar(&f.cookie, "session-cookie", "", "sessionId cookie for the private recordings without their own")
	fs.IntVar(&f.parallel, "parallel", 2, "jobs in flight at once")
	fs.BoolVar(&f.force, "force", false, "render every recording again, even those already archived")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one FILE: a list of recording URLs or a course manifest (- reads stdin)", errUsage)
	}
	if f.parallel < 1 || f.parallel > 64 {
		return fmt.Errorf("%w: --parallel %d: give 1 to 64", errUsage, f.parallel)
	}
	list, err := readArchiveList(fs.Arg(0), os.Stdin)
	if err != nil {
		return err
	}
	if f.course != "" {
		list.Course = f.course
	}
	if f.name != "" {
		list.Name = f.name
	}
	if list.Name == "" {
		list.Name = defaultArchiveName
	}
	if err := os.MkdirAll(f.outDir, 0o755); err != nil {
		return fmt.Errorf("making --out-dir: %w", err)
	}
	view := newProgressView(env.stderr, f.farm.progress)
	log, _ := f.farm.log.loggerVia(env.stderr, viewWriter(view, env.stderr))
	a := newArchiver(f, list, log)
	a.view = view
	err = a.run(ctx, env)
	view.close()
	if werr := a.report.write(f.outDir); werr != nil && err == nil {
		err = werr
	}
	a.report.printTable(env.stdout)
	if err != nil {
		return err
	}
	return a.report.verdict(ctx)
}

// archiver archives one list: it keeps the report, the output names taken
// and the farm it runs on.
type archiver struct {
	f      archiveFlags
	list   *archiveList
	log    zerolog.Logger
	ff     *ffmpeg.Runner
	prev   map[string]archiveRecord // the last run's report, by URL
	report *archiveReport

	mu    sync.Mutex
	taken map[string]int // output path → entry index
	nc    *nats.Conn
	store blob.Store
	errs  <-chan error
	view  progressView
}

func newArchiver(f archiveFlags, list *archiveList, log zerolog.Logger) *archiver {
	a := &archiver{f: f, list: list, log: log, ff: ffmpeg.New(log), taken: map[string]int{}}
	a.prev = loadArchiveReport(f.outDir, log)
	a.report = &archiveReport{Course: list.Course, Started: time.Now().UTC()}
	for _, e := range list.Entries {
		a.report.Recordings = append(a.report.Recordings, archiveRecord{Index: e.Index, URL: proto.RedactURL(e.URL),
			Status: statusPending})
	}
	return a
}

// run skips what is archived, then archives the rest.
func (a *archiver) run(ctx context.Context, env *cli) error {
	var todo []int
	for i, e := range a.list.Entries {
		rec := &a.report.Recordings[i]
		switch {
		case e.Problem != "":
			rec.Status, rec.Error = statusInvalid, e.Problem
		case !a.f.force && a.skip(ctx, e, rec):
		default:
			todo = append(todo, i)
		}
	}
	defer func() { a.report.Finished = time.Now().UTC() }()
	if len(todo) == 0 {
		return nil
	}
	closeFarm, err := a.connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeFarm()
	a.view.overall(a.report.ended(), len(a.report.Recordings))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(a.f.parallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				a.archiveOne(ctx, i)
				a.mu.Lock()
				_ = a.report.write(a.f.outDir) // a kill -9 keeps what ended so far
				ended := a.report.ended()
				a.mu.Unlock()
				a.view.overall(ended, len(a.report.Recordings))
			}
		}()
	}
	for _, i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		a.report.Interrupted = true
		for i := range a.report.Recordings {
			if r := &a.report.Recordings[i]; r.Status == statusPending {
				r.Status, r.Error = statusInterrupted, "not started: the archive was interrupted; run it again to resume"
			}
		}
	}
	return nil
}

// connect attaches to the farm: the one at --nats-url (its outputs read
// from --store-dir/--s3-…), or an embedded one started here.
func (a *archiver) connect(ctx context.Context, env *cli) (func(), error) {
	if a.f.nats.url != "" {
		nc, err := a.f.nats.connect("mtsfarm archive")
		if err != nil {
			return nil, err
		}
		st, err := a.f.store.open(ctx)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("opening the farm's object store to fetch outputs: %w", err)
		}
		a.nc, a.store = nc, st
		if err := a.f.farm.dash.start(ctx, env, nc, st, a.log, nil); err != nil {
			nc.Close()
			return nil, err
		}
		return nc.Close, nil
	}
	fm, err := startFarmAndDashboard(ctx, env, a.f.farm, a.log)
	if err != nil {
		return nil, err
	}
	a.nc, a.store, a.errs = fm.nc, fm.store, fm.errs
	return fm.close, nil
}

// skip reports whether the last run archived e and its output is still
// there and passes the check; rec then takes the last run's record.
func (a *archiver) skip(ctx context.Context, e archiveEntry, rec *archiveRecord) bool {
	old, ok := a.prev[proto.RedactURL(e.URL)]
	if !ok || (old.Status != statusDone && old.Status != statusSkipped) || old.Output == "" {
		return false
	}
	path := filepath.Join(a.f.outDir, filepath.FromSlash(old.Output))
	if err := a.checkOutput(ctx, path, old.Duration); err != nil {
		a.log.Warn().Str("output", old.Output).Err(err).Msg("archived output fails the check: rendering it again")
		return false
	}
	*rec = old
	rec.Index, rec.Status, rec.Seconds = e.Index, statusSkipped, 0
	a.taken[old.Output] = e.Index
	return true
}

// checkOutput: the file has video and audio and its duration is the one
// recorded when it was archived (a truncated copy fails).
func (a *archiver) checkOutput(ctx context.Context, path string, want float64) error {
	info, err := a.ff.Probe(ctx, path)
	if err != nil {
		return err
	}
	if !info.HasVideo || !info.HasAudio {
		return fmt.Errorf("%s lacks video or audio", path)
	}
	if want > 0 && math.Abs(info.Duration-want) > max(1, want*0.01) {
		return fmt.Errorf("%s lasts %.1f s, archived as %.1f s", path, info.Duration, want)
	}
	return nil
}

// archiveOne submits one recording, follows its job and copies its output.
func (a *archiver) archiveOne(ctx context.Context, i int) {
	e := a.list.Entries[i]
	start := time.Now()
	result := archiveRecord{Index: e.Index, URL: proto.RedactURL(e.URL)}
	defer func() {
		result.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
		a.mu.Lock()
		a.report.Recordings[i] = result
		a.mu.Unlock()
	}()
	cookie := e.Cookie
	if cookie == "" {
		cookie = a.f.cookie
	}
	job, err := submitLocal(ctx, a.nc, proto.SubmitRequest{URL: e.URL, SessionCookie: cookie,
		Course: a.list.Course, Force: a.f.force})
	switch {
	case ctx.Err() != nil:
		result.Status, result.Error = statusInterrupted, "interrupted before it was submitted; run the archive again"
		return
	case errors.Is(err, errNoCoordinator):
		result.Status, result.Error = statusFailed, err.Error()
		return
	case err != nil:
		// One URL per submission: the API's "url 1: " says nothing here.
		result.Status, result.Error = statusInvalid, strings.TrimPrefix(err.Error(), "url 1: ")
		result.Hint = "fix this entry of the list (an MTS Link recording URL; a valid session cookie) and run the archive again"
		return
	}
	result.Job = job.ID
	j, err := followJob(ctx, a.nc, a.errs, job.ID, a.view)
	if err != nil {
		result.Status, result.Error = statusInterrupted, "interrupted while "+string(job.State)+"; run the archive again to resume"
		if ctx.Err() == nil {
			result.Status, result.Error = statusFailed, err.Error()
		}
		return
	}
	result.Title, result.Duration, result.Warnings = j.Title, math.Round(j.Duration*100)/100, j.Warnings
	if j.State != proto.StateDone {
		result.Status, result.Error = statusFailed, j.Error
		result.Hint = "run the archive again to retry it (add the session cookie if the recording is private)"
		return
	}
	out, err := a.copyOutput(ctx, e, j)
	if err != nil {
		result.Status, result.Error = statusFailed, err.Error()
		return
	}
	result.Status, result.Output, result.Size = statusDone, out, j.OutputSize
}

// copyOutput copies a done job's output into --out-dir under its name,
// numbered when another recording has it, and returns the relative path.
func (a *archiver) copyOutput(ctx context.Context, e archiveEntry, j *proto.Job) (string, error) {
	session := ""
	if parts := strings.Split(j.Recording, "|"); len(parts) >= 2 {
		session = parts[1]
	}
	rel := a.claimPath(archivePath(a.list.Name, a.list.Course, e, j.Title, session), e)
	dst := filepath.Join(a.f.outDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("making the folder of %s: %w", rel, err)
	}
	if _, err := a.store.GetFile(ctx, j.OutputKey, dst); err != nil {
		return "", fmt.Errorf("copying the output %s to %s: %w", j.OutputKey, rel, err)
	}
	return rel, nil
}

// claimPath takes rel for entry e, or rel numbered (" (2)", …) when another
// entry of this list has it or a file there is not e's from the last run.
func (a *archiver) claimPath(rel string, e archiveEntry) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := a.prev[proto.RedactURL(e.URL)].Output
	for n := 1; ; n++ {
		p := rel
		if n > 1 {
			p = fsname.Numbered(rel, ".mp4", n)
		}
		if holder, ok := a.taken[p]; ok && holder != e.Index {
			continue
		}
		if _, err := os.Stat(filepath.Join(a.f.outDir, filepath.FromSlash(p))); err == nil && p != mine {
			continue // a file this archive did not make for e: never overwritten
		}
		a.taken[p] = e.Index
		return p
	}
}
