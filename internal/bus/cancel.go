package bus

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrJobCanceled is the cause of a task's context when the coordinator
// announced its job canceled (proto.CancelSubject): the work stops at once
// and the task is dropped without a result.
var ErrJobCanceled = errors.New("the job was canceled")

// canceledMemory is how long a canceled job is remembered, so its tasks that
// are still queued are dropped when they arrive.
const canceledMemory = time.Hour

// Cancels tracks a worker's running tasks by job and stops them when the
// coordinator announces their job canceled. Fetchers and renderers share it.
type Cancels struct {
	log      zerolog.Logger
	mu       sync.Mutex
	running  map[*cancelRun]struct{}
	canceled map[string]time.Time // job → when its cancel was announced
}

type cancelRun struct {
	job, label string
	cancel     context.CancelCauseFunc
}

// NewCancels returns an empty tracker; Subscribe connects it to the cancel
// announcements.
func NewCancels(log zerolog.Logger) *Cancels {
	return &Cancels{log: log, running: map[*cancelRun]struct{}{}, canceled: map[string]time.Time{}}
}

// Subscribe listens for cancel announcements on nc (core NATS).
func (c *Cancels) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(proto.CancelFilter, func(m *nats.Msg) {
		c.Cancel(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
	})
}

// Cancel stops the running tasks of job and remembers it, so its tasks that
// arrive later are refused by Begin.
func (c *Cancels) Cancel(job string) {
	if !proto.ValidJobID(job) {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, at := range c.canceled {
		if now.Sub(at) > canceledMemory {
			delete(c.canceled, j)
		}
	}
	c.canceled[job] = now
	for r := range c.running {
		if r.job == job {
			c.log.Info().Str("job_id", job).Str("task", r.label).Msg("job canceled: stopping its task")
			r.cancel(ErrJobCanceled)
		}
	}
}

// Begin registers a running task of job, named label ("<job>/<unit>"). Its
// context is canceled with cause ErrJobCanceled when the job is canceled;
// done unregisters it. A task of a job already canceled gets ErrJobCanceled.
func (c *Cancels) Begin(ctx context.Context, job, label string) (context.Context, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.canceled[job]; ok {
		return nil, nil, ErrJobCanceled
	}
	tctx, cancel := context.WithCancelCause(ctx)
	r := &cancelRun{job: job, label: label, cancel: cancel}
	c.running[r] = struct{}{}
	return tctx, func() {
		c.mu.Lock()
		delete(c.running, r)
		c.mu.Unlock()
		cancel(nil)
	}, nil
}

// Running returns the labels of the running tasks, sorted (for presence).
func (c *Cancels) Running() []string {
	c.mu.Lock()
	out := make([]string, 0, len(c.running))
	for r := range c.running {
		out = append(out, r.label)
	}
	c.mu.Unlock()
	sort.Strings(out)
	return out
}
