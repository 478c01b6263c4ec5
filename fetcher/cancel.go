package fetcher

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go"
)

// ErrJobCanceled is the cause of a task's context when the coordinator
// announced its job canceled (proto.CancelSubject): the download stops at
// once and the task is dropped without a result.
var ErrJobCanceled = errors.New("the job was canceled")

// canceledMemory is how long a canceled job is remembered, so its tasks
// that were already delivered are dropped too.
const canceledMemory = time.Hour

// taskRun is a running task, for cancel announcements.
type taskRun struct {
	job    string
	cancel context.CancelCauseFunc
}

// onCancel handles a cancel announcement: the job's running tasks stop.
func (w *Worker) onCancel(msg *nats.Msg) {
	job := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	if !proto.ValidJobID(job) {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for j, at := range w.canceled {
		if now.Sub(at) > canceledMemory {
			delete(w.canceled, j)
		}
	}
	w.canceled[job] = now
	for r := range w.running {
		if r.job == job {
			w.log.Info().Str("job_id", job).Msg("job canceled: stopping its fetch")
			r.cancel(ErrJobCanceled)
		}
	}
}

// begin registers a running task of job; its context is canceled with
// ErrJobCanceled when the job is canceled.
func (w *Worker) begin(ctx context.Context, job string) (context.Context, func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.canceled[job]; ok {
		return nil, nil, ErrJobCanceled
	}
	tctx, cancel := context.WithCancelCause(ctx)
	r := &taskRun{job: job, cancel: cancel}
	w.running[r] = struct{}{}
	return tctx, func() {
		w.mu.Lock()
		delete(w.running, r)
		w.mu.Unlock()
		cancel(nil)
	}, nil
}
