package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mtsfarm/mtsfarm/proto"
)

// The reconciler: runs all the time, not only at start. Every unfinished job
// gets its next step republished (a lost publish, after a crash between the
// KV write and the publish, is made good; a step in flight is deduplicated
// by its Nats-Msg-Id), a job without progress for StallTimeout fails with
// the reason, and a task that ran out of deliveries fails its job.

// reconcileLoop reconciles every unfinished job each ReconcileEvery until
// ctx ends.
func (c *Coordinator) reconcileLoop(ctx context.Context) error {
	t := time.NewTicker(c.cfg.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.reconcileAll(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn().Err(err).Msg("reconciling jobs; trying again next round")
			}
		}
	}
}

// reconcileAll fails stalled jobs, republishes the next step of the rest and
// drops cached flows of jobs that are no longer open.
func (c *Coordinator) reconcileAll(ctx context.Context) error {
	jobs, err := c.jobs.list(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	open := map[string]bool{}
	for _, j := range jobs {
		if !j.State.Terminal() {
			open[j.ID] = true
		}
	}
	// Flows cached for jobs that are finished (by another coordinator,
	// which is the only one to forget them at once), cancelled or gone.
	c.pruneFlows(open)
	for _, j := range jobs {
		if j.State.Terminal() {
			continue
		}
		if last := lastProgress(j); now.Sub(last) > c.cfg.StallTimeout {
			c.failJob(ctx, j.ID, fmt.Sprintf("the job made no progress for %s (last at %s, in state %s); "+
				"check that fetchers and renderers are running, then retry it", now.Sub(last).Round(time.Second),
				last.UTC().Format(time.RFC3339), j.State))
			continue
		}
		if _, err := c.advance(ctx, j.ID, nil, true); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Str("job_id", j.ID).Msg("reconciling job")
		}
	}
	return nil
}

// lastProgress is when the job last moved: a result, its creation or retry.
func lastProgress(j *proto.Job) time.Time {
	if j.Progressed.After(j.Created) {
		return j.Progressed
	}
	return j.Created
}

// failJob fails an unfinished job with a reason a user can act on.
func (c *Coordinator) failJob(ctx context.Context, id, reason string) {
	_, err := c.advance(ctx, id, func(j *proto.Job) (bool, error) {
		if j.State.Terminal() {
			return false, nil
		}
		fail(j, reason, c.now().UTC())
		return true, nil
	}, false)
	if err != nil {
		c.log.Warn().Err(err).Str("job_id", id).Msg("failing job")
		return
	}
	c.log.Warn().Str("job_id", id).Str("error", reason).Msg("job failed")
	c.event(ctx, proto.Event{Job: id, Kind: proto.EventState, State: proto.StateFailed, Message: reason})
}

// maxDeliveriesAdvisory is the payload of JetStream's max-deliveries
// advisory ($JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>).
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// watchMaxDeliveries turns a task that ran out of deliveries into a job
// failure with the reason. Such a message stays in its work queue, never
// delivered again: it is removed once its job is failed.
func (c *Coordinator) watchMaxDeliveries(ctx context.Context) (*nats.Subscription, error) {
	sub, err := c.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", func(m *nats.Msg) {
		var a maxDeliveriesAdvisory
		if json.Unmarshal(m.Data, &a) != nil || a.StreamSeq == 0 || !strings.HasPrefix(a.Stream, "MTSFARM_") {
			return
		}
		go c.onMaxDeliveries(ctx, a)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to max-deliveries advisories: %w", err)
	}
	return sub, nil
}

func (c *Coordinator) onMaxDeliveries(ctx context.Context, a maxDeliveriesAdvisory) {
	s, err := c.js.Stream(ctx, a.Stream)
	if err != nil {
		return
	}
	msg, err := s.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		return // already gone (acked meanwhile, or removed by another coordinator)
	}
	job := proto.JobOfSubject(msg.Subject)
	if proto.ValidJobID(job) {
		c.failJob(ctx, job, fmt.Sprintf("a task on %s (%s) was delivered %d times without finishing and will not be delivered again; "+
			"see the workers' logs for why it keeps failing, then retry the job", a.Stream, msg.Subject, a.Deliveries))
	}
	if err := s.DeleteMsg(ctx, a.StreamSeq); err != nil {
		c.log.Warn().Err(err).Str("stream", a.Stream).Uint64("seq", a.StreamSeq).Msg("removing a task that ran out of deliveries")
	}
}
