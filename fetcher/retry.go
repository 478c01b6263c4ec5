package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/retry"
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
	return !retry.IsPermanent(err)
}

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

// retryWait is how long to wait before retry n after err: the server's
// Retry-After when it gave one, else the backoff. When Retry-After exceeds
// maxInline the task should be handed back instead (the second result).
func retryWait(err error, n int, b retry.Backoff, maxInline time.Duration) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		if se.RetryAfter > maxInline {
			return se.RetryAfter, false
		}
		return se.RetryAfter, true
	}
	return b.Delay(n), true
}
