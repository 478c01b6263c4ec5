package mts

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retrying requests to MTS Link: the flow API (Client) and the media and
// slide downloads of the fetcher wait the same way between attempts.

// Backoff is exponential backoff with jitter.
type Backoff struct {
	Base time.Duration // first delay
	Max  time.Duration // cap
}

// Delay returns the wait before retry number n (1-based): Base·2^(n-1),
// capped at Max, with "equal jitter" (a random value in [d/2, d)) so the
// retries of many clients do not arrive together. A zero Base gives 0.
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
