package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Pure functions that fold one worker result into a job record. Each returns
// whether the record changed; a result that is stale (a newer generation is
// running, the task is already settled, the job is over) changes nothing, so
// a redelivered result is harmless.

// maxUnitWorkers is how many different renderers may fail one unit before the
// job fails with that unit's error.
const maxUnitWorkers = 3

// applyResolved takes the resolved flow's plan into a job: title, duration,
// the chunks to fetch and the units to render.
func applyResolved(j *proto.Job, p *proto.Plan, now time.Time) bool {
	if j.State != proto.StateResolving && j.State != proto.StateQueued {
		return false
	}
	j.Title, j.Duration = p.Title, p.Duration
	j.Chunks = buildChunks(p)
	j.Units = make([]proto.UnitState, len(p.Units))
	for i, u := range p.Units {
		j.Units[i] = proto.UnitState{Index: i, Start: u.Start, End: u.End, State: proto.TaskPending, Generation: j.Generation}
	}
	j.State = proto.StateFetching
	j.Warnings = appendUnique(j.Warnings, p.Warnings...)
	stamp(j, "resolve", now)
	return true
}

// applyFetch records a media or slide fetch result.
func applyFetch(j *proto.Job, r proto.FetchResult) bool {
	if j.State.Terminal() || r.Index < 0 || r.Index >= len(j.Chunks) {
		return false
	}
	c := &j.Chunks[r.Index]
	if settled(c.State) || r.Kind != c.Kind || !ownFetchKey(c, r) {
		return false
	}
	c.Worker, c.Attempts, c.Bytes = r.Worker, c.Attempts+max(1, r.Attempts), r.Bytes
	switch r.Status {
	case proto.FetchStored:
		c.State, c.Media, c.Error = proto.TaskDone, r.Media, ""
		if r.Key != "" {
			c.Key = r.Key
		}
	case proto.FetchInvalid, proto.FetchFailed:
		c.State, c.Error = proto.TaskInvalid, r.Error
		if r.Status == proto.FetchFailed {
			c.State = proto.TaskFailed
		}
		what := "slide " + c.URL
		if c.Kind == proto.FetchMedia {
			what = "media session " + c.Session
		}
		j.Warnings = appendUnique(j.Warnings, fmt.Sprintf("%s could not be used and is left out of the video: %s", what, r.Error))
	default:
		return false
	}
	return true
}

// applyUnit records a render result. live lists the renderers present now;
// a failed unit is retried with a new generation on a renderer that has not
// failed this job twice, or fails the job when maxUnitWorkers different
// renderers failed it, or when renderers are present and all of them are
// excluded (with none present, the unit waits for one to join).
func applyUnit(j *proto.Job, r proto.UnitResult, live []string, now time.Time) bool {
	if j.State.Terminal() || r.Index < 0 || r.Index >= len(j.Units) {
		return false
	}
	u := &j.Units[r.Index]
	if u.State == proto.TaskDone {
		return false
	}
	switch r.Status {
	case proto.UnitDone:
		if !ownUnitKeys(j.ID, u, r) {
			return false
		}
		// A late success of an older generation is as good as any.
		u.State, u.Worker, u.Encoder, u.Error = proto.TaskDone, r.Worker, r.Encoder, ""
		u.VideoKey, u.AudioKey, u.Elapsed, u.Rendered = r.VideoKey, r.AudioKey, r.Elapsed, u.End-u.Start
		u.Attempts++
		return true
	case proto.UnitFailed:
		if r.Generation != u.Generation {
			return false // a newer attempt is already out
		}
		u.Attempts++
		u.Failures = append(u.Failures, proto.Failure{Worker: r.Worker, Error: r.Error, At: now})
		u.Error = r.Error
		workers := map[string]bool{}
		for _, f := range u.Failures {
			workers[f.Worker] = true
		}
		excluded := excludedWorkers(j)
		candidates := 0
		for _, w := range live {
			if !slices.Contains(excluded, w) {
				candidates++
			}
		}
		switch {
		case len(workers) >= maxUnitWorkers:
			u.State = proto.TaskFailed
			fail(j, fmt.Sprintf("unit %d failed on %d renderers; last error: %s", r.Index, len(workers), r.Error), now)
		case len(live) > 0 && candidates == 0:
			u.State = proto.TaskFailed
			fail(j, fmt.Sprintf("unit %d failed and no renderer is left to retry it (renderers that failed this job twice get no more of it): %s",
				r.Index, r.Error), now)
		default:
			u.Generation++
			u.State = proto.TaskPending
		}
		return true
	}
	return false
}

// fail moves a job to failed with a message the user can act on.
func fail(j *proto.Job, msg string, now time.Time) {
	if j.State.Terminal() {
		return
	}
	j.State, j.Error, j.Finished = proto.StateFailed, msg, now
}

// stamp records the seconds since the job was created when a stage ends.
func stamp(j *proto.Job, stage string, now time.Time) {
	if j.Timings == nil {
		j.Timings = map[string]float64{}
	}
	if _, ok := j.Timings[stage]; !ok {
		j.Timings[stage] = now.Sub(j.Created).Seconds()
	}
}

func appendUnique(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// ownFetchKey: a stored result names the object its task was given. A
// result that names another key (forged, or another job's) is ignored, so
// no message can point a job at outputs/ or at another job's objects.
func ownFetchKey(c *proto.ChunkState, r proto.FetchResult) bool {
	if r.Status != proto.FetchStored || r.Key == "" {
		return true
	}
	if c.Key != "" {
		return r.Key == c.Key
	}
	return !strings.HasPrefix(r.Key, "outputs/") && !strings.HasPrefix(r.Key, "jobs/")
}

// ownUnitKeys: a rendered unit's objects are the unit's own keys, of a
// generation that was published (a late older one is as good).
func ownUnitKeys(job string, u *proto.UnitState, r proto.UnitResult) bool {
	g := r.Generation
	if g < 0 || g > u.Generation || r.VideoKey != proto.UnitVideoKey(job, r.Index, g) {
		return false
	}
	return r.AudioKey == "" || r.AudioKey == proto.UnitAudioKey(job, r.Index, g)
}
