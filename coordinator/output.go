package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mtsfarm/mtsfarm/coordinator/finalize"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/proto"
)

// handleFinalize runs a job's finalize task: fetch the units and audio-only
// tracks to local disk (or read them in place from a local store), join and
// mix them (Finalize), store the checked MP4 under outputs/, and mark the
// job done. Any coordinator replica may take the task.
func (c *Coordinator) handleFinalize(ctx context.Context, t *bus.Task) error {
	task, err := bus.Decode[proto.FinalizeTask](t.Data())
	if err != nil {
		return bus.Permanent(err)
	}
	j, _, err := c.jobs.get(ctx, task.Job)
	if errors.Is(err, ErrJobNotFound) {
		return bus.Permanent(err)
	}
	if err != nil {
		return err
	}
	switch {
	case j.State.Terminal() || j.Generation != task.Generation:
		return nil // canceled, retried or already finished: nothing to do
	case j.State != proto.StateFinalizing:
		// The coordinator publishes before it writes the record, so the
		// task can arrive a moment before the record says finalizing.
		return bus.RetryAfter(errors.New("job record not yet finalizing"), 500*time.Millisecond)
	}
	log := c.log.With().Str("job_id", j.ID).Logger()
	started := c.now()
	p, err := c.planFor(ctx, j, false)
	if transient(err) {
		return err // handed back with backoff
	}
	if err != nil {
		return c.finalizeFailed(ctx, j.ID, err)
	}
	work, err := os.MkdirTemp(c.cfg.WorkDir, finalizeDirPrefix+j.ID+"-")
	if err != nil {
		return fmt.Errorf("making finalize scratch dir: %w", err)
	}
	defer os.RemoveAll(work)

	fetch := &localFiles{store: c.store, dir: work, heartbeat: t.Progress}
	in, premixWarnings, err := c.finalizeInput(ctx, j, p, fetch)
	if errors.Is(err, blob.ErrNotFound) {
		return c.finalizeFailed(ctx, j.ID, err) // a unit or track is gone: rendering again is a retry
	}
	if err != nil {
		return err // the store did not answer: retried with backoff, the job is not failed
	}
	in.WorkDir, in.Output = work, filepath.Join(work, "output.mp4")
	var lastEvent time.Time
	res, err := finalize.Run(ctx, c.ff, in, func(stage string, frac float64) {
		t.Progress()
		if now := c.now(); now.Sub(lastEvent) >= time.Second {
			lastEvent = now
			c.event(ctx, proto.Event{Job: j.ID, Kind: proto.EventProgress, Task: "finalize",
				Message: stage, Progress: &proto.Progress{Stage: "finalizing " + stage, Fraction: 0.9 + 0.1*frac, StageFraction: frac}})
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return err // shutdown: hand the task back
		}
		if errors.Is(err, finalize.ErrInput) || errors.Is(err, finalize.ErrBadOutput) {
			// The units themselves are wrong: finalizing again would fail
			// the same way.
			return c.finalizeFailed(ctx, j.ID, err)
		}
		return err // transient (ffmpeg crash, disk): retried with backoff
	}
	key, err := c.outputKey(ctx, j)
	if err != nil {
		return err
	}
	info, err := c.storeOutput(ctx, key, in.Output, j.ID, t.Progress)
	if err != nil {
		return fmt.Errorf("storing the output %s: %w", key, err)
	}
	_, err = c.advance(ctx, j.ID, func(j *proto.Job) (bool, error) {
		if j.State != proto.StateFinalizing || j.Generation != task.Generation {
			return false, nil
		}
		now := c.now().UTC()
		j.State, j.OutputKey, j.OutputSize, j.Finished = proto.StateDone, key, info.Size, now
		j.Warnings = appendUnique(j.Warnings, premixWarnings...)
		j.Warnings = appendUnique(j.Warnings, res.Warnings...)
		j.Premixed = in.Premixed != ""
		stamp(j, "finalize", now)
		c.forgetFlow(j.ID)
		return true, nil
	}, false)
	log.Info().Err(err).Str("object_key", key).Int64("bytes", info.Size).Int("tracks", res.Mixed).
		Dur("took", c.now().Sub(started)).Msg("job finalized")
	if err == nil {
		c.metrics.Finalized(c.now().Sub(started))
	}
	return err
}

// finalizeInput gathers what finalize reads: every unit's video and audio
// and every stored audio-only track as local files (or their premix, with
// its warnings), and the chapters.
func (c *Coordinator) finalizeInput(ctx context.Context, j *proto.Job, p *proto.Plan, fetch *localFiles) (finalize.Input, []string, error) {
	in := finalize.Input{Duration: p.Duration, Title: j.Title, AudioRate: c.cfg.Encoding.AudioRate,
		AudioChannels: c.cfg.Encoding.AudioChannels, AudioBitrate: c.cfg.AudioBitrate, FPS: p.FPS}
	for _, u := range j.Units {
		v, err := fetch.local(ctx, u.VideoKey)
		if err != nil {
			return in, nil, err
		}
		a, err := fetch.local(ctx, u.AudioKey)
		if err != nil {
			return in, nil, err
		}
		in.Units = append(in.Units, finalize.UnitFiles{Video: v, Audio: a})
	}
	in.Chapters = chapters(p.Slides)
	tracks := audioTracks(j, p)
	if len(tracks) == 0 {
		return in, nil, nil
	}
	c.awaitPremix(ctx, j.ID, fetch.heartbeat)
	if warnings, ok, err := c.usePremix(ctx, j.ID, tracks, &in, fetch); err != nil || ok {
		return in, warnings, err
	}
	for _, t := range tracks {
		path, err := fetch.local(ctx, t.Key)
		if err != nil {
			return in, nil, err
		}
		in.Tracks = append(in.Tracks, finalize.AudioTrackFile{Path: path, Start: t.Start, Offset: t.Offset, Duration: t.Duration})
	}
	return in, nil, nil
}

// chapters names the output's chapters by slide.
func chapters(slides []proto.PlanSlide) []finalize.Chapter {
	var out []finalize.Chapter
	if len(slides) > 0 && slides[0].Start >= 1 {
		// MP4 chapters run back to back from 0: name the part before the
		// first slide, so "Slide 1" starts where the slide does.
		out = append(out, finalize.Chapter{Start: 0, End: slides[0].Start, Title: "Start"})
	}
	for _, s := range slides {
		title := fmt.Sprintf("Slide %d", s.Number)
		if s.Number == 0 {
			title = "Slide"
		}
		out = append(out, finalize.Chapter{Start: s.Start, End: s.End, Title: title})
	}
	return out
}

// finalizeFailed fails the job with a reason and terminates the task.
func (c *Coordinator) finalizeFailed(ctx context.Context, id string, cause error) error {
	_, err := c.advance(ctx, id, func(j *proto.Job) (bool, error) {
		fail(j, "finalizing: "+cause.Error(), c.now().UTC())
		return true, nil
	}, false)
	if err != nil {
		return err
	}
	return bus.Permanent(cause)
}

// outputKey names a job's output from the name template. When another job
// already stored an output under that name (two lectures with the same
// title), the job id is appended so neither is overwritten.
func (c *Coordinator) outputKey(ctx context.Context, j *proto.Job) (string, error) {
	tmpl := j.Spec.Name
	if tmpl == "" {
		tmpl = c.cfg.OutputName
		if j.Spec.Course != "" && !strings.Contains(tmpl, "{course}") {
			tmpl = "{course} - " + tmpl
		}
	}
	name := renderName(tmpl, j)
	for n := 1; n <= maxNameTries; n++ {
		key := proto.OutputKey(name)
		if n > 1 {
			key = proto.OutputKey(fmt.Sprintf("%s_%d", name, n))
		}
		ok, err := c.claimOutput(ctx, key, j.ID)
		if err != nil || ok {
			return key, err
		}
	}
	return proto.OutputKey(name + "_" + j.ID), nil
}

// maxNameTries is how many numbered names (title, title_2, …) are tried
// before the job id makes the name unique.
const maxNameTries = 50

// claimOutput claims an output key for job id, atomically: the first job to
// create the claim in KV owns the name, so two jobs with one title finishing
// at once get two outputs, never one overwritten. A name taken in the store
// by another job (before claims existed) counts as taken.
func (c *Coordinator) claimOutput(ctx context.Context, key, id string) (bool, error) {
	holder, err := c.jobs.claimIndex(ctx, outputClaim(key), id)
	if err != nil {
		return false, fmt.Errorf("claiming the output name %s: %w", key, err)
	}
	if holder != id {
		return false, nil
	}
	info, err := c.store.Stat(ctx, key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("checking the output name %s: %w", key, err)
	}
	return info.Metadata["job"] == id, nil
}

// renderName fills a name template: {title}, {job}, {session} (the event
// session id of the recording), {course}.
func renderName(tmpl string, j *proto.Job) string {
	session := ""
	if parts := strings.Split(j.Recording, "|"); len(parts) >= 2 {
		session = parts[1]
	}
	title := j.Title
	if title == "" {
		title = "webinar"
	}
	return strings.NewReplacer("{title}", title, "{job}", j.ID, "{session}", session, "{course}", j.Spec.Course).Replace(tmpl)
}

// localFiles gives local paths for stored objects: in place for a local store,
// downloaded into dir otherwise.
type localFiles struct {
	store     blob.Store
	dir       string
	heartbeat func()
	mu        sync.Mutex
	n         int
}

func (f *localFiles) local(ctx context.Context, key string) (string, error) {
	if l, ok := f.store.(*blob.Local); ok {
		return l.Path(key)
	}
	f.mu.Lock()
	f.n++
	path := filepath.Join(f.dir, fmt.Sprintf("in-%04d%s", f.n, filepath.Ext(key)))
	f.mu.Unlock()
	if err := f.download(ctx, key, path); err != nil {
		return "", fmt.Errorf("downloading %s: %w", key, err)
	}
	return path, nil
}

// download copies an object to path, heartbeating with every read: a unit
// of a long lecture is big, and a download longer than the ack wait must
// not look hung.
func (f *localFiles) download(ctx context.Context, key, path string) error {
	rc, _, err := f.store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, &beatReader{r: rc, beat: f.heartbeat}); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// storeOutput uploads the finished MP4, heartbeating with every read.
func (c *Coordinator) storeOutput(ctx context.Context, key, path, job string, beat func()) (blob.Info, error) {
	file, err := os.Open(path)
	if err != nil {
		return blob.Info{}, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return blob.Info{}, err
	}
	return c.store.Put(ctx, key, &beatReader{r: file, beat: beat}, st.Size(), blob.PutOptions{ContentType: "video/mp4",
		Metadata: map[string]string{"job": job}})
}

// beatReader calls beat on every read: progress from bytes moved.
type beatReader struct {
	r    io.Reader
	beat func()
}

func (b *beatReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.beat()
	}
	return n, err
}

// outputClaim is the jobs-bucket index key that claims an output key.
func outputClaim(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "out." + hex.EncodeToString(sum[:20])
}
