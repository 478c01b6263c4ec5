package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

// resolve fetches the recording's flow and stores it, as is, at the task key.
func (w *Worker) resolve(ctx context.Context, t heartbeater, task proto.FetchTask, log zerolog.Logger) (proto.FetchResult, error) {
	rec, err := w.parser.Parse(task.URL)
	if err != nil {
		return failedResult(err.Error()), nil
	}
	if _, err := mts.CleanCookie(task.SessionCookie); err != nil {
		return failedResult(fmt.Sprintf("the session cookie of %s: %v", rec.Redacted(), err)), nil
	}
	if _, err := w.policy.Check(rec.FlowURL()); err != nil {
		return failedResult(fmt.Sprintf("fetching the flow of %s: %v", rec.Redacted(), err)), nil
	}
	// FetchFlow waits between its retries; keep the message meanwhile. Its
	// attempts and waits are bounded (see New).
	stop := heartbeatEvery(t, time.Second)
	raw, flow, err := w.mts.FetchFlow(ctx, rec, task.SessionCookie)
	stop()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return proto.FetchResult{}, ctx.Err()
	case errors.Is(err, mts.ErrAccessDenied), errors.Is(err, mts.ErrNotFound), errors.Is(err, mts.ErrBadFlow),
		errors.Is(err, ErrHostNotAllowed):
		return failedResult(err.Error()), nil
	case errors.Is(err, mts.ErrUnavailable):
		return proto.FetchResult{}, err
	default:
		var se *StatusError
		if errors.As(err, &se) && !se.Transient() {
			return failedResult(err.Error()), nil
		}
		return proto.FetchResult{}, err
	}
	if _, err := w.deps.Store.Put(ctx, task.Key, bytes.NewReader(raw), int64(len(raw)),
		blob.PutOptions{ContentType: "application/json"}); err != nil {
		return proto.FetchResult{}, fmt.Errorf("storing the flow at %s: %w", task.Key, err)
	}
	log.Info().Str("recording", rec.Redacted()).Str("title", flow.Name).Float64("duration", flow.Duration).
		Int("events", len(flow.Events)).Msg("flow stored")
	return proto.FetchResult{Status: proto.FetchStored, Title: flow.Name, Duration: flow.Duration,
		Bytes: int64(len(raw)), Attempts: 1}, nil
}

// heartbeatEvery calls t.Progress every d until the returned stop is called.
func heartbeatEvery(t heartbeater, d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				t.Progress()
			}
		}
	}()
	return func() { close(done) }
}
