package fetcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusError is an HTTP response that was not a success.
type StatusError struct {
	Code int
	URL  string // redacted
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Transient reports whether the request may succeed when repeated: 5xx,
// 429 (too many requests) and 408 (request timeout).
func (e *StatusError) Transient() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// transient reports whether err is worth retrying: a retryable status or a
// network error. Policy refusals, other statuses and cancellation are not.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrHostNotAllowed) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var pe *permanentError
	return !errors.As(err, &pe)
}

// permanentError marks an error no retry can fix (a bad response shape, a
// local disk error).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// retryLaterError says the server asked to come back later than the fetcher
// waits in place: the task is handed back with that delay.
type retryLaterError struct {
	err   error
	after time.Duration
}

func (e *retryLaterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.err, e.after.Round(time.Second))
}
func (e *retryLaterError) Unwrap() error { return e.err }

// Backoff is exponential backoff with jitter.
type Backoff struct {
	Base time.Duration // first delay
	Max  time.Duration // cap
}

// Delay returns the wait before retry number n (1-based): Base·2^(n-1),
// capped at Max, with "equal jitter" (a random value in [d/2, d]) so retries
// of many fetchers do not arrive together.
func (b Backoff) Delay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
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

// retryWait is how long to wait before retry n after err: the server's
// Retry-After when it gave one, else the backoff. When Retry-After exceeds
// maxInline the task should be handed back instead (the second result).
func retryWait(err error, n int, b Backoff, maxInline time.Duration) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		if se.RetryAfter > maxInline {
			return se.RetryAfter, false
		}
		return se.RetryAfter, true
	}
	return b.Delay(n), true
}
