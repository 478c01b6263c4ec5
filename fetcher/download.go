package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/rs/zerolog"
)

// downloader fetches one URL into a local file and resumes with an HTTP
// Range request after a dropped or stalled connection, as the users of the
// Python tools were told to do by hand (spec §8, issue #4).
type downloader struct {
	client    *http.Client
	userAgent string
	backoff   retry.Backoff
	// maxFailures is how many attempts in a row may fail without a single
	// new byte before the download gives up.
	maxFailures int
	// maxInlineWait bounds a Retry-After the downloader waits out itself;
	// a longer one hands the task back (retryLaterError).
	maxInlineWait time.Duration
	// stall is how long a response may send nothing before the connection
	// is dropped and resumed.
	stall time.Duration
	// maxBytes caps a download (0: no cap): a file announced or grown
	// past it fails permanently.
	maxBytes int64
	log      zerolog.Logger
}

// ErrTooBig: a download is over the size cap.
var ErrTooBig = errors.New("over the size cap")

func (d *downloader) tooBig(u string, size int64) error {
	return retry.Permanent(fmt.Errorf("GET %s: %w: %d bytes or more, the cap is %d (a real chunk is far smaller; "+
		"raise --max-chunk-bytes if this file is genuine)", u, ErrTooBig, size, d.maxBytes))
}

// dlStats describes a finished download.
type dlStats struct {
	Size     int64 // bytes in the file
	Total    int64 // size the server announced, -1 when unknown
	Requests int   // HTTP requests made
	Resumes  int   // requests that continued a partial file with Range
}

const copyBufSize = 256 << 10

// get downloads rawURL into path (created or truncated). onBytes, when not
// nil, is called as bytes arrive with the bytes in the file and the total
// (-1 when unknown).
func (d *downloader) get(ctx context.Context, rawURL, path string, onBytes func(done, total int64)) (dlStats, error) {
	st := dlStats{Total: -1}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return st, retry.Permanent(fmt.Errorf("creating %s: %w", path, err))
	}
	defer f.Close()
	var (
		offset    int64
		validator string // strong ETag or Last-Modified, for If-Range
		failures  int
		noRange   bool  // the server answered a Range with the wrong bytes
		high      int64 // the furthest offset reached
		buf       = make([]byte, copyBufSize)
	)
	restart := func() error {
		offset, validator = 0, ""
		if err := f.Truncate(0); err != nil {
			return retry.Permanent(fmt.Errorf("truncating %s: %w", path, err))
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	fail := func(err error) error {
		failures++
		if failures >= d.maxFailures {
			return fmt.Errorf("giving up after %d failed attempts: %w", failures, err)
		}
		wait, inline := retryWait(err, failures, d.backoff, d.maxInlineWait)
		if !inline {
			return &retryLaterError{err: err, after: wait}
		}
		d.log.Debug().Err(err).Int("attempt", failures).Dur("wait", wait).Int64("offset", offset).Msg("retrying download")
		return retry.Sleep(ctx, wait)
	}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		if err != nil {
			return st, retry.Permanent(fmt.Errorf("GET %s: %w", redact(rawURL), err))
		}
		if d.userAgent != "" {
			req.Header.Set("User-Agent", d.userAgent)
		}
		if offset > 0 && !noRange {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
			if validator != "" {
				req.Header.Set("If-Range", validator)
			}
			st.Resumes++
		}
		reqCtx, cancel := context.WithCancel(ctx)
		var stalled atomic.Bool
		watchdog := time.AfterFunc(d.stall, func() { stalled.Store(true); cancel() })
		st.Requests++
		resp, err := d.client.Do(req.WithContext(reqCtx))
		if err != nil {
			watchdog.Stop()
			cancel()
			if errors.Is(err, ErrHostNotAllowed) {
				return st, err
			}
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			if stalled.Load() {
				err = fmt.Errorf("GET %s: no response for %s", redact(rawURL), d.stall)
			}
			if e := fail(err); e != nil {
				return st, e
			}
			continue
		}
		done, err := d.body(resp, f, &offset, &st, &validator, &noRange, restart, buf, watchdog, onBytes)
		watchdog.Stop()
		resp.Body.Close()
		cancel()
		if done {
			st.Size = offset
			return st, nil
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if stalled.Load() {
			err = fmt.Errorf("GET %s: no data for %s at byte %d", redact(rawURL), d.stall, offset)
		}
		if !transient(err) {
			return st, err
		}
		if pe, ok := err.(*partialError); ok {
			err = pe.err
			// Progress is getting further into the file than ever before: a
			// server that ignores Range and drops every response at the same
			// byte must still run out of attempts.
			if offset > high {
				high, failures = offset, 0
			}
		}
		if e := fail(err); e != nil {
			return st, e
		}
	}
}

// partialError is a body that broke off.
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// body handles one response. It returns done when the file is complete, nil
// error with !done when the next request should go out at once (a restart),
// or the error of this attempt.
func (d *downloader) body(resp *http.Response, f *os.File, offset *int64, st *dlStats, validator *string,
	noRange *bool, restart func() error, buf []byte, watchdog *time.Timer, onBytes func(int64, int64)) (bool, error) {
	u := redact(resp.Request.URL.String())
	switch {
	case resp.StatusCode == http.StatusOK:
		if *offset > 0 {
			// The server ignored the Range (or the file changed, If-Range):
			// start over.
			if err := restart(); err != nil {
				return false, err
			}
		}
		st.Total = resp.ContentLength
		*validator = rangeValidator(resp.Header)
	case resp.StatusCode == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != *offset {
			d.log.Warn().Str("url", u).Str("content_range", resp.Header.Get("Content-Range")).Int64("offset", *offset).
				Msg("server answered the Range request with other bytes; downloading from the start")
			*noRange = true
			return false, restart()
		}
		if total >= 0 {
			st.Total = total
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && *offset > 0:
		if _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && total == *offset {
			return true, nil
		}
		*noRange = true
		return false, restart()
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, &StatusError{Code: resp.StatusCode, URL: u,
			RetryAfter: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if d.maxBytes > 0 && st.Total > d.maxBytes {
		return false, d.tooBig(u, st.Total)
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if d.maxBytes > 0 && *offset+int64(n) > d.maxBytes {
			return false, d.tooBig(u, *offset+int64(n))
		}
		if n > 0 {
			watchdog.Reset(d.stall)
			if _, err := f.Write(buf[:n]); err != nil {
				return false, retry.Permanent(fmt.Errorf("writing the download to disk: %w", err))
			}
			*offset += int64(n)
			if onBytes != nil {
				onBytes(*offset, st.Total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, &partialError{err: fmt.Errorf("GET %s: connection broke at byte %d: %w", u, *offset, rerr)}
		}
	}
	if st.Total >= 0 && *offset < st.Total {
		return false, &partialError{err: fmt.Errorf("GET %s: body ended at byte %d of %d", u, *offset, st.Total)}
	}
	if st.Total >= 0 && *offset > st.Total {
		*noRange = true
		return false, restart()
	}
	return true, nil
}

// rangeValidator is the If-Range value for a later resume: a strong ETag, else
// Last-Modified, else "" (resume without one).
func rangeValidator(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

// parseContentRange parses "bytes START-END/TOTAL" (TOTAL may be "*", then
// -1) and "bytes */TOTAL" (START -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 {
			return 0, 0, false
		}
		total = t
	}
	if span == "*" {
		return -1, total, total >= 0
	}
	s, e, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || (total >= 0 && end >= total) {
		return 0, 0, false
	}
	return start, total, true
}
