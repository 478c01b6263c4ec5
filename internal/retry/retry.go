// Package retry is the one retry policy of mtsfarm: exponential backoff with
// jitter, the Retry-After header, waiting with a context, and the one
// meaning of a permanent error — a failure that repeating cannot fix (bad
// input, a 403, undecodable media, a local configuration error). The flow
// client, the fetcher's downloads, the bus worker's redeliveries and the
// renderer's hand-backs all wait by it; a longer transient budget is a
// configuration of a Backoff, not another implementation.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff is exponential backoff with jitter.
type Backoff struct {
	Base time.Duration // first delay
	Max  time.Duration // cap
	// Up, when above 0, jitters upwards instead: d plus up to Up·d, never
	// above Max (the bus worker's redeliveries: at least the nominal wait).
	Up float64
}

// Delay returns the wait before retry number n (1-based): Base·2^(n-1),
// capped at Max, with "equal jitter" (a random value in [d/2, d)) so the
// retries of many clients do not arrive together, or the upward jitter of
// Up. A zero Base gives 0.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		if d > b.Max/2 {
			d = b.Max
			break
		}
		d *= 2
	}
	d = min(d, b.Max)
	if b.Up > 0 {
		return min(d+rand.N(time.Duration(float64(d)*b.Up)+1), b.Max)
	}
	if d < 2 {
		return max(d, 0)
	}
	return d/2 + rand.N(d-d/2)
}

// ParseRetryAfter reads a Retry-After header relative to now: seconds (at
// most a day) or an HTTP date; 0 when absent, past or unreadable.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Between is a random duration in [lo, hi): a jittered hand-back delay.
func Between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// Sleep waits d or until ctx is done, and returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot fix. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
