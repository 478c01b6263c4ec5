package bus

import (
	"context"
	"encoding/json"
	"errors"
	"math"
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
	canceled map[string]canceledJob // job → its canceled generation
}

// canceledJob is a job generation announced canceled, and when.
type canceledJob struct {
	generation int
	at         time.Time
}

type cancelRun struct {
	job, label string
	generation int
	cancel     context.CancelCauseFunc
}

// NewCancels returns an empty tracker; Subscribe connects it to the cancel
// announcements.
func NewCancels(log zerolog.Logger) *Cancels {
	return &Cancels{log: log, running: map[*cancelRun]struct{}{}, canceled: map[string]canceledJob{}}
}

// Subscribe listens for cancel announcements on nc (core NATS).
func (c *Cancels) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(proto.CancelFilter, func(m *nats.Msg) {
		job := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		// A notice without a generation (an older coordinator) cancels
		// every generation, as cancels always did.
		n := proto.CancelNotice{Generation: math.MaxInt}
		if len(m.Data) > 0 && json.Unmarshal(m.Data, &n) != nil {
			n.Generation = math.MaxInt
		}
		c.Cancel(job, n.Generation)
	})
}

// Cancel stops the running tasks of job up to generation and remembers it,
// so its tasks of that generation or older that arrive later are refused by
// Begin. Tasks of a later generation (the job was retried) run.
func (c *Cancels) Cancel(job string, generation int) {
	if !proto.ValidJobID(job) {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, cj := range c.canceled {
		if now.Sub(cj.at) > canceledMemory {
			delete(c.canceled, j)
		}
	}
	if prev, ok := c.canceled[job]; ok && prev.generation > generation {
		generation = prev.generation
	}
	c.canceled[job] = canceledJob{generation: generation, at: now}
	for r := range c.running {
		if r.job == job && r.generation <= generation {
			c.log.Info().Str("job_id", job).Str("task", r.label).Msg("job canceled: stopping its task")
			r.cancel(ErrJobCanceled)
		}
	}
}

// Begin registers a running task of job generation, named label
// ("<job>/<unit>"). Its context is canceled with cause ErrJobCanceled when
// that generation of the job is canceled; done unregisters it. A task of a
// generation already canceled gets ErrJobCanceled.
func (c *Cancels) Begin(ctx context.Context, job string, generation int, label string) (context.Context, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cj, ok := c.canceled[job]; ok && generation <= cj.generation {
		return nil, nil, ErrJobCanceled
	}
	tctx, cancel := context.WithCancelCause(ctx)
	r := &cancelRun{job: job, label: label, generation: generation, cancel: cancel}
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
