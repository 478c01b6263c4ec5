package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Retention: what a finished job leaves behind expires, so a farm that runs
// for a whole term does not fill its store or its KV bucket, and `list` and
// the reconciler do not read every record ever written. Outputs and the
// shared media (media/, slides/: content-addressed, reused by later jobs of
// the same recordings) are kept.
//
//   - RetainScratch after a job ended (done, failed or canceled), its units
//     and per-unit audio (jobs/<id>/units/, jobs/<id>/audio/: the bulk of a
//     job's objects) are deleted; the record says so (Swept) and a retry
//     then renders every unit again. The flow and plan stay with the record.
//   - RetainJobs after it ended, the record itself (with its history and its
//     idempotency key) and the rest of jobs/<id>/ go.
//   - Finalize scratch directories left in WorkDir by a coordinator that died
//     are removed once nothing in them changed for staleScratch.
//
// Every coordinator sweeps every SweepEvery; two sweeping the same job at
// once only delete the same objects twice.

// staleScratch is how long a finalize scratch directory must have been
// untouched to be a dead coordinator's: a running finalize writes into its
// directory all the time (downloads, ffmpeg output).
const staleScratch = 6 * time.Hour

// finalizeDirPrefix starts the name of every finalize scratch directory.
const finalizeDirPrefix = "mtsfarm-finalize-"

// sweepPlan decides, for jobs as listed at now, whose units and audio to
// delete (scratch) and whose records to delete (records). A zero retention
// keeps that kind forever. Pure.
func sweepPlan(jobs []*proto.Job, now time.Time, retainScratch, retainJobs time.Duration) (scratch, records []*proto.Job) {
	for _, j := range jobs {
		if !j.State.Terminal() {
			continue
		}
		ended := j.Finished
		if ended.IsZero() {
			ended = j.Updated
		}
		age := now.Sub(ended)
		switch {
		case retainJobs > 0 && age >= retainJobs:
			records = append(records, j)
		case retainScratch > 0 && age >= retainScratch && j.Swept.IsZero():
			scratch = append(scratch, j)
		}
	}
	return scratch, records
}

// sweepLoop runs sweep every SweepEvery until ctx ends, first soon after
// start (a coordinator restarted after a crash cleans up at once).
func (c *Coordinator) sweepLoop(ctx context.Context) error {
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(wait, c.cfg.SweepEvery)):
		}
		wait = c.cfg.SweepEvery
		if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("retention sweep; trying again next round")
		}
	}
}

// sweep applies the retention rules once; a job it cannot sweep (the store
// down for a moment) is left for the next round, the others are swept.
func (c *Coordinator) sweep(ctx context.Context) error {
	c.sweepScratchDirs(time.Now())
	jobs, err := c.jobs.list(ctx)
	if err != nil {
		return err
	}
	scratch, records := sweepPlan(jobs, c.now(), c.cfg.RetainScratch, c.cfg.RetainJobs)
	var errs []error
	for _, j := range scratch {
		n, err := c.deleteObjects(ctx, proto.JobPrefix(j.ID)+"units/", proto.JobPrefix(j.ID)+"audio/")
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting the units of job %s: %w", j.ID, err))
			continue
		}
		if _, err := c.jobs.update(ctx, j.ID, func(j *proto.Job) error {
			if !j.State.Terminal() {
				return errNoChange // retried meanwhile: its units are being rendered again
			}
			j.Swept = c.now().UTC()
			return nil
		}); err != nil && !errors.Is(err, ErrJobNotFound) {
			errs = append(errs, fmt.Errorf("recording the sweep of job %s: %w", j.ID, err))
			continue
		}
		c.log.Info().Str("job_id", j.ID).Int("objects", n).Dur("retain_scratch", c.cfg.RetainScratch).
			Msg("retention: deleted the units and audio of a finished job")
	}
	for _, j := range records {
		n, err := c.deleteObjects(ctx, proto.JobPrefix(j.ID))
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting the objects of job %s: %w", j.ID, err))
			continue
		}
		if err := c.jobs.remove(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("deleting the record of job %s: %w", j.ID, err))
			continue
		}
		c.forgetFlow(j.ID)
		c.log.Info().Str("job_id", j.ID).Int("objects", n).Dur("retain_jobs", c.cfg.RetainJobs).
			Msg("retention: deleted a finished job's record")
	}
	return errors.Join(errs...)
}

// deleteObjects deletes every object under the prefixes and counts them.
func (c *Coordinator) deleteObjects(ctx context.Context, prefixes ...string) (int, error) {
	n := 0
	for _, p := range prefixes {
		objs, err := c.store.List(ctx, p)
		if err != nil {
			return n, err
		}
		for _, o := range objs {
			if err := c.store.Delete(ctx, o.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// sweepScratchDirs removes finalize scratch directories of WorkDir in which
// nothing changed for staleScratch: what a coordinator killed mid-finalize
// left behind.
func (c *Coordinator) sweepScratchDirs(now time.Time) {
	entries, err := os.ReadDir(c.cfg.WorkDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), finalizeDirPrefix) {
			continue
		}
		dir := filepath.Join(c.cfg.WorkDir, e.Name())
		if newest := newestChange(dir); now.Sub(newest) < staleScratch {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			c.log.Warn().Err(err).Str("dir", dir).Msg("retention: removing a dead finalize's scratch")
			continue
		}
		c.log.Info().Str("dir", dir).Msg("retention: removed the scratch of a finalize that did not finish")
	}
}

// newestChange is the latest modification time of dir or anything in it.
func newestChange(dir string) time.Time {
	var newest time.Time
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
		return nil
	})
	return newest
}
