package mts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/retry"
)

// BrowserUserAgent is the User-Agent of the flow request (spec §2.1): the
// API answers a browser.
const BrowserUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0"

// Errors of FetchFlow. ErrAccessDenied and ErrNotFound are permanent (the
// same request will fail again); ErrUnavailable means the retries ran out on
// server or network errors and a later try may work.
var (
	ErrAccessDenied = errors.New("access denied")
	ErrNotFound     = errors.New("the recording does not exist or was deleted")
	ErrUnavailable  = errors.New("MTS Link is unavailable")
)

// AccessDeniedError is a 403 from the flow API (by HTTP status or by the
// {"error":{"code":403}} body). errors.Is(err, ErrAccessDenied) holds.
type AccessDeniedError struct {
	// Recording is the canonical recording URL with the token redacted.
	Recording string
	// Status is the HTTP status (200 when only the body said 403).
	Status int
	// Message is the server's error message, if any.
	Message string
	// CookieSent says whether a sessionId cookie was sent (never its value).
	CookieSent bool
}

func (e *AccessDeniedError) Error() string {
	said := ""
	if e.Message != "" {
		said = fmt.Sprintf(" (MTS Link says %q)", e.Message)
	}
	if e.CookieSent {
		return fmt.Sprintf("access denied to recording %s%s: the sessionId cookie that was given was refused "+
			"(it expired, or that account may not view this recording); log in to my.mts-link.ru in a browser, "+
			"open the recording, copy a fresh sessionId cookie and pass it with --session-cookie "+
			`(or "session_cookie" in the submit JSON)`, e.Recording, said)
	}
	return fmt.Sprintf("access denied to recording %s%s: the recording is private; log in to my.mts-link.ru in a "+
		"browser, copy the sessionId cookie and pass it with --session-cookie "+
		`(or "session_cookie" in the submit JSON)`, e.Recording, said)
}

// Is makes errors.Is(err, ErrAccessDenied) true.
func (e *AccessDeniedError) Is(target error) bool { return target == ErrAccessDenied }

// Client fetches flows from the MTS Link API. The zero value is not usable:
// start from NewClient and adjust the fields.
type Client struct {
	// HTTP does the requests; NewClient sets connect, TLS and header
	// timeouts. AttemptTimeout bounds each whole request, body included.
	HTTP           *http.Client
	AttemptTimeout time.Duration
	UserAgent      string
	// MaxBytes bounds the flow document.
	MaxBytes int64
	// Attempts is the most requests made for one flow (≥ 1).
	Attempts int
	// BaseDelay and MaxDelay shape the exponential backoff (with jitter)
	// between attempts. A Retry-After from the server replaces the backoff.
	BaseDelay, MaxDelay time.Duration
	// MaxWait bounds the total time spent waiting between attempts: when
	// the next wait (a long Retry-After, say) would pass it, FetchFlow gives
	// up with ErrUnavailable.
	MaxWait time.Duration
	// OnRetry, when set, hears of every failed attempt that will be
	// retried (the caller logs it; this package does no logging).
	OnRetry func(rec Recording, attempt int, retryIn time.Duration, err error)
}

// NewTransport is an HTTP transport with connect, TLS handshake and
// response-header timeouts, proxies from the environment.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}

// NewClient returns a Client with production settings: 5 attempts, backoff
// from 1 s up to 30 s, at most 2 minutes of waiting, 2 minutes per attempt,
// MaxFlowBytes.
func NewClient() *Client {
	return &Client{
		HTTP:           &http.Client{Transport: NewTransport()},
		AttemptTimeout: 2 * time.Minute,
		UserAgent:      BrowserUserAgent,
		MaxBytes:       MaxFlowBytes,
		Attempts:       5,
		BaseDelay:      time.Second,
		MaxDelay:       30 * time.Second,
		MaxWait:        2 * time.Minute,
	}
}

// CleanCookie normalizes a pasted sessionId cookie: surrounding spaces and
// quotes and a leading "sessionId=" are dropped. It fails on characters a
// cookie value cannot hold (a pasted header line, say).
func CleanCookie(v string) (string, error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "sessionId=")
	v = strings.Trim(v, `"`)
	for _, r := range v {
		if r <= ' ' || r == ';' || r == ',' || r == '"' || r == '\\' || r >= 0x7f {
			return "", errors.New(`the session cookie holds a character a cookie value cannot have (space, ";", ",", quote or non-ASCII): paste only the value of the sessionId cookie`)
		}
	}
	return v, nil
}

// errorBody is the API's error document: {"error":{"code":403,"message":"…"}}.
type errorBody struct {
	Error *struct {
		Code    Number `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiError returns the code and message of an error document, or 0.
func apiError(body []byte) (int, string) {
	var e errorBody
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &e) != nil || e.Error == nil {
		return 0, ""
	}
	msg := e.Error.Message
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return int(e.Error.Code), msg
}

// retryable is an attempt that failed in a way a later attempt may not.
type retryable struct {
	err   error
	after time.Duration // the server's Retry-After, 0 when none
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// FetchFlow gets the recording's flow (spec §2.1) and decodes it. It returns
// the raw document too, to be stored as is. sessionCookie is the sessionId
// cookie ("" for none); it is sent with this request only and never logged.
func (c *Client) FetchFlow(ctx context.Context, rec Recording, sessionCookie string) ([]byte, *Flow, error) {
	cookie, err := CleanCookie(sessionCookie)
	if err != nil {
		return nil, nil, err
	}
	u := rec.FlowURL()
	attempts := max(c.Attempts, 1)
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		body, err := c.attempt(ctx, rec, u, cookie)
		if err == nil {
			flow, derr := DecodeFlow(body)
			if derr != nil {
				return nil, nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), derr)
			}
			return body, flow, nil
		}
		var rt *retryable
		if !errors.As(err, &rt) {
			return nil, nil, err
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), ctx.Err())
		}
		delay, asked := retry.Backoff{Base: c.BaseDelay, Max: c.MaxDelay}.Delay(attempt), ""
		if rt.after > 0 {
			delay, asked = rt.after, fmt.Sprintf(" (the server asks to retry in %s)", rt.after)
		}
		if attempt >= attempts || waited+delay > c.MaxWait {
			return nil, nil, fmt.Errorf("fetching flow of %s: %w: giving up after %d attempts and %s of waiting%s: %w",
				rec.Redacted(), ErrUnavailable, attempt, waited.Round(time.Millisecond), asked, rt.err)
		}
		if c.OnRetry != nil {
			c.OnRetry(rec, attempt, delay, rt.err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), ctx.Err())
		case <-t.C:
		}
		waited += delay
	}
}

// attempt makes one request. Failures worth retrying come back as
// *retryable; every other error is final.
func (c *Client) attempt(ctx context.Context, rec Recording, u, cookie string) ([]byte, error) {
	actx := ctx
	if c.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.AttemptTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), err)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = BrowserUserAgent
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/json, text/plain, */*")
	if cookie != "" {
		req.Header.Set("Cookie", "sessionId="+cookie)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), ctx.Err())
		}
		// Connection refused or reset, timeouts, EOF before the headers:
		// all worth another try.
		return nil, &retryable{err: fmt.Errorf("requesting %s: %w", redactURL(u, rec.AccessToken), err)}
	}
	defer resp.Body.Close()
	limit := c.MaxBytes
	if limit <= 0 {
		limit = MaxFlowBytes
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("fetching flow of %s: %w: the response is %d bytes, over the %d byte limit",
			rec.Redacted(), ErrBadFlow, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetching flow of %s: %w", rec.Redacted(), ctx.Err())
		}
		return nil, &retryable{err: fmt.Errorf("reading the flow of %s (HTTP %d): %w", rec.Redacted(), resp.StatusCode, err)}
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("fetching flow of %s: %w: the response is over the %d byte limit", rec.Redacted(), ErrBadFlow, limit)
	}
	code, msg := apiError(body)
	switch {
	case code == http.StatusForbidden || code == http.StatusUnauthorized ||
		resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return nil, &AccessDeniedError{Recording: rec.Redacted(), Status: resp.StatusCode, Message: msg, CookieSent: cookie != ""}
	case code == http.StatusNotFound || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("fetching flow of %s: %w (HTTP %d)", rec.Redacted(), ErrNotFound, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, &retryable{
			err:   fmt.Errorf("fetching flow of %s: HTTP %d%s", rec.Redacted(), resp.StatusCode, snippet(body)),
			after: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("fetching flow of %s: unexpected HTTP %d%s", rec.Redacted(), resp.StatusCode, snippet(body))
	case code != 0:
		return nil, fmt.Errorf("fetching flow of %s: MTS Link answered error %d %q", rec.Redacted(), code, msg)
	}
	return body, nil
}

// snippet is the start of a response body for an error message.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + strings.ToValidUTF8(s, "?")
}

func redactURL(u, token string) string {
	if token == "" {
		return u
	}
	return strings.ReplaceAll(u, token, "<redacted>")
}
