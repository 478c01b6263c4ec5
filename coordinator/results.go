package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mtsfarm/mtsfarm/coordinator/plan"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// handleResult folds one worker result into its job and publishes what
// becomes possible (fetch tasks after the resolve, units whose inputs are
// stored, the finalize task after the last unit).
func (c *Coordinator) handleResult(ctx context.Context, t *bus.Task) error {
	subj := t.Subject()
	switch {
	case strings.HasSuffix(subj, "."+proto.ResultFetch):
		r, err := bus.Decode[proto.FetchResult](t.Data())
		if err != nil {
			return bus.Permanent(err)
		}
		return c.onFetch(ctx, r)
	case strings.HasSuffix(subj, "."+proto.ResultRender):
		r, err := bus.Decode[proto.UnitResult](t.Data())
		if err != nil {
			return bus.Permanent(err)
		}
		return c.onUnit(ctx, r)
	}
	return bus.Permanent(fmt.Errorf("unknown result subject %s", subj))
}

func (c *Coordinator) onFetch(ctx context.Context, r proto.FetchResult) error {
	log := c.log.With().Str("job_id", r.Job).Str("kind", r.Kind).Int("chunk", r.Index).Str("status", r.Status).Logger()
	if r.Kind == proto.FetchResolve {
		_, err := c.advance(ctx, r.Job, func(j *proto.Job) (bool, error) {
			// Queued too: the resolve is published before the record
			// that says resolving is written.
			if (j.State != proto.StateResolving && j.State != proto.StateQueued) || r.Generation != j.Generation {
				return false, nil
			}
			if r.Status != proto.FetchStored {
				fail(j, "resolving the recording: "+r.Error, c.now().UTC())
				return true, nil
			}
			p, err := c.planFor(ctx, j, true)
			if transient(err) {
				return false, err // redelivered with backoff
			}
			if err != nil {
				fail(j, err.Error(), c.now().UTC())
				return true, nil
			}
			j.Spec.SessionCookie = "" // only the flow request needed it
			return applyResolved(j, p, c.now().UTC()), nil
		}, false)
		log.Info().Err(err).Msg("resolve result")
		return err
	}
	_, err := c.advance(ctx, r.Job, func(j *proto.Job) (bool, error) {
		return applyFetch(j, r), nil
	}, false)
	if err == nil {
		kind := proto.EventFetched
		if r.Status != proto.FetchStored {
			kind = proto.EventWarning
		}
		c.event(ctx, proto.Event{Job: r.Job, Kind: kind, Task: "fetch", Index: r.Index, Worker: r.Worker,
			Message: strings.TrimSpace(r.Status + " " + r.Error)})
	}
	log.Debug().Err(err).Msg("fetch result")
	return err
}

func (c *Coordinator) onUnit(ctx context.Context, r proto.UnitResult) error {
	live := c.liveRenderers(ctx)
	_, err := c.advance(ctx, r.Job, func(j *proto.Job) (bool, error) {
		return applyUnit(j, r, live, c.now().UTC()), nil
	}, false)
	if err == nil {
		kind, msg := proto.EventRendered, fmt.Sprintf("unit %d rendered by %s with %s", r.Index, r.Worker, r.Encoder)
		if r.Status != proto.UnitDone {
			kind, msg = proto.EventError, fmt.Sprintf("unit %d failed on %s: %s", r.Index, r.Worker, r.Error)
		}
		c.event(ctx, proto.Event{Job: r.Job, Kind: kind, Task: "render", Index: r.Index, Worker: r.Worker, Message: msg})
	}
	c.log.Debug().Err(err).Str("job_id", r.Job).Int("unit", r.Index).Str("status", r.Status).Msg("unit result")
	return err
}

// advance applies change (may be nil) to the job record, reconciles it with
// its plan, publishes what reconcile asks for, and writes the record back
// with compare-and-set. Publishing happens before the write: if the write
// loses a race or the process dies, the next attempt publishes the same
// message ids, which the streams deduplicate.
func (c *Coordinator) advance(ctx context.Context, id string, change func(*proto.Job) (bool, error), resume bool) (*proto.Job, error) {
	var before proto.JobState
	var warnings int
	j, err := c.jobs.update(ctx, id, func(j *proto.Job) error {
		before, warnings = j.State, len(j.Warnings)
		changed := false
		if change != nil {
			ch, err := change(j)
			if err != nil {
				return err
			}
			changed = ch
		}
		var p *proto.Plan
		if !j.State.Terminal() && j.State != proto.StateQueued && j.State != proto.StateResolving {
			var err error
			if p, err = c.planFor(ctx, j, false); transient(err) {
				return err // the record stays as it is; the caller retries
			} else if err != nil {
				fail(j, err.Error(), c.now().UTC())
				changed = true
			}
		}
		stateBefore := j.State
		out, err := reconcile(j, p, dispatchConfig{Encoding: c.cfg.Encoding}, resume)
		if err != nil {
			fail(j, fmt.Sprintf("planning job %s: %v", j.ID, err), c.now().UTC())
			changed = true
		} else if err := c.publish(ctx, j, out); err != nil {
			return err
		}
		if !changed && out.empty() && j.State == stateBefore && j.State == before {
			return errNoChange
		}
		now := c.now().UTC()
		if j.State == proto.StateRendering && before != proto.StateRendering {
			stamp(j, "fetch", now)
		}
		if j.State == proto.StateFinalizing && before != proto.StateFinalizing {
			stamp(j, "render", now)
		}
		j.Updated = now
		if changed || j.State != before {
			j.Progressed = now
		}
		j.Progress = progress(j, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if j.State != before {
		kind := proto.EventState
		switch j.State {
		case proto.StateFailed:
			kind = proto.EventFailed
			c.forgetFlow(id)
		case proto.StateDone:
			kind = proto.EventDone
		}
		c.event(ctx, proto.Event{Job: id, Kind: kind, State: j.State, Message: j.Error, Progress: &j.Progress})
		c.log.Info().Str("job_id", id).Str("state", string(j.State)).Str("error", j.Error).Msg("job state")
		if j.State == proto.StateRendering {
			c.startPremix(id) // every chunk is in: mix the audio-only voices while the units render
		}
	}
	for _, w := range j.Warnings[min(warnings, len(j.Warnings)):] {
		c.event(ctx, proto.Event{Job: id, Kind: proto.EventWarning, Message: w})
	}
	return j, nil
}

// publish sends an outbox: every message with its Nats-Msg-Id, in the lane
// of the job's priority (proto/lanes.go).
func (c *Coordinator) publish(ctx context.Context, j *proto.Job, out outbox) error {
	lane := proto.LaneOf(j.Spec.Priority)
	for _, t := range out.fetch {
		kind := "fetch"
		if t.Kind == proto.FetchResolve {
			kind = "resolve"
		}
		if err := bus.Publish(ctx, c.js, proto.FetchSubjectLane(j.ID, lane), t, proto.MsgID(j.ID, kind, t.Index, t.Generation)); err != nil {
			return err
		}
	}
	for _, u := range out.units {
		if err := bus.Publish(ctx, c.js, proto.RenderSubjectLane(j.ID, lane), u, proto.MsgID(j.ID, "render", u.Index, u.Generation)); err != nil {
			return err
		}
	}
	if f := out.finalize; f != nil {
		if err := bus.Publish(ctx, c.js, proto.FinalizeSubjectLane(j.ID, lane), *f, proto.MsgID(j.ID, "finalize", 0, f.Generation)); err != nil {
			return err
		}
	}
	return nil
}

// planFor plans a job from its stored flow and what its chunks know. With
// fresh set the flow is read from the store even when cached. It may freeze
// the job's output size in j (geometry_freeze.go).
func (c *Coordinator) planFor(ctx context.Context, j *proto.Job, fresh bool) (*proto.Plan, error) {
	r, err := c.resolved(ctx, j, fresh)
	if err != nil {
		return nil, err
	}
	if len(j.Chunks) == 0 {
		return r.base, nil
	}
	// Probes and absences are keyed by session id; the chunks know them by
	// URL, which the base plan maps.
	opts := c.planOptions(j)
	opts.Probes, opts.Absent = probesOf(j, r.base)
	opts.AbsentSlides = absentSlides(j)
	if j.Width == 0 {
		j.Width, j.Height, _ = plan.FreezeGeometry(r.flow, opts, r.base)
	}
	if j.Width > 0 && j.Height > 0 {
		opts.Width, opts.Height = j.Width, j.Height
	}
	p, err := plan.Plan(r.flow, opts)
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	return p, nil
}

func (c *Coordinator) planOptions(j *proto.Job) plan.Options {
	opts := plan.Options{UnitSeconds: c.cfg.UnitSeconds, MaxHeight: c.cfg.MaxHeight, FPS: c.cfg.FPS}
	if j.Spec.UnitSeconds > 0 {
		opts.UnitSeconds = j.Spec.UnitSeconds
	}
	if j.Spec.MaxHeight > 0 {
		opts.MaxHeight = j.Spec.MaxHeight
	}
	return opts
}

// resolvedJob is a job's flow and its plan before any chunk was fetched
// (the sessions, their URLs and the units), both fixed once the flow is
// stored. Plans handed out are read only.
type resolvedJob struct {
	flow *mts.Flow
	base *proto.Plan
}

// storeUnavailable marks an error of the object store that a later attempt
// may not have (a 503, a reset connection, the store restarting): the step
// is retried (the message redelivered with backoff, or the reconciler's
// next round) instead of failing the job. A missing or unusable flow is not
// one of these.
type storeUnavailable struct{ error }

func (e storeUnavailable) Unwrap() error { return e.error }

// transient reports whether err is worth retrying rather than failing a
// job for.
func transient(err error) bool {
	var su storeUnavailable
	return errors.As(err, &su) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// resolved returns the job's flow and base plan, cached in memory.
func (c *Coordinator) resolved(ctx context.Context, j *proto.Job, fresh bool) (*resolvedJob, error) {
	c.mu.Lock()
	r := c.flows[j.ID]
	c.mu.Unlock()
	if r != nil && !fresh {
		return r, nil
	}
	rc, _, err := c.store.Get(ctx, proto.FlowKey(j.ID))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("the flow of job %s is missing from the store (%s): retry the job to resolve the recording again: %w",
			j.ID, proto.FlowKey(j.ID), err)
	}
	if err != nil {
		return nil, storeUnavailable{fmt.Errorf("reading the flow of job %s: %w", j.ID, err)}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, mts.MaxFlowBytes+1))
	if err != nil {
		return nil, storeUnavailable{fmt.Errorf("reading the flow of job %s: %w", j.ID, err)}
	}
	flow, err := mts.DecodeFlow(data)
	if err != nil {
		return nil, fmt.Errorf("the recording's flow cannot be used: %w", err)
	}
	base, err := plan.Plan(flow, c.planOptions(j))
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	r = &resolvedJob{flow: flow, base: base}
	c.mu.Lock()
	c.flows[j.ID] = r
	c.mu.Unlock()
	return r, nil
}

func (c *Coordinator) forgetFlow(id string) {
	c.mu.Lock()
	delete(c.flows, id)
	c.mu.Unlock()
}

// pruneFlows drops the cached flows of every job not in open, so the cache
// of a coordinator replica holds only open jobs, whichever replica finished
// the others. It returns how many it dropped.
func (c *Coordinator) pruneFlows(open map[string]bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for id := range c.flows {
		if !open[id] {
			delete(c.flows, id)
			n++
		}
	}
	return n
}

// cachedFlows is how many flows the coordinator holds in memory.
func (c *Coordinator) cachedFlows() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.flows)
}

// event publishes a job event; events are for watchers, so a failure is
// logged, never returned.
func (c *Coordinator) event(ctx context.Context, e proto.Event) {
	e.Type, e.Time = proto.TypeEvent, c.now().UTC()
	if e.Worker == "" {
		e.Worker = c.cfg.WorkerID
	}
	if err := bus.Publish(ctx, c.js, proto.EventSubject(e.Job, e.Kind), e, ""); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn().Err(err).Str("job_id", e.Job).Msg("publishing event")
	}
}
