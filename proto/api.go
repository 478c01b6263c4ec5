package proto

import (
	"fmt"
	"regexp"
	"strings"
)

// The job spec.

// JobSpec is what a user asked for: one recording and the options that make
// its output. Two jobs with the same recording and options are the same job
// (see IdentityKey) unless Force is set.
type JobSpec struct {
	Type string `json:"type"`
	// URL is the MTS Link recording URL as the user pasted it.
	URL string `json:"url"`
	// SessionCookie is the sessionId cookie for private recordings. It is a
	// secret: never logged, blanked in API replies (see Redacted).
	SessionCookie string `json:"session_cookie,omitempty"`
	// Name is the output name template ("{title}" when empty, "{course} -
	// {title}" in a course).
	Name string `json:"name,omitempty"`
	// Course is the name of the course the recording belongs to (an
	// archive of many recordings), used by the {course} placeholder.
	Course string `json:"course,omitempty"`
	// Priority: higher goes first (0 is normal).
	Priority int `json:"priority,omitempty"`
	// UnitSeconds is the render unit length (default 1800).
	UnitSeconds float64 `json:"unit_seconds,omitempty"`
	// MaxHeight caps the output height (default 720).
	MaxHeight int `json:"max_height,omitempty"`
	// Force makes a new job even if the same recording was submitted before.
	Force bool `json:"force,omitempty"`
}

func (JobSpec) MessageType() string { return TypeJobSpec }

// Validate checks the shape of the spec; the URL itself is checked by the
// coordinator with internal/mts, which knows the recording URL forms.
func (s JobSpec) Validate() error {
	if err := checkType(s.Type, TypeJobSpec); err != nil {
		return err
	}
	if strings.TrimSpace(s.URL) == "" {
		return invalidf("url is empty: give an MTS Link recording URL")
	}
	if len(s.URL) > 2048 {
		return invalidf("url is longer than 2048 characters")
	}
	if err := nonNegative("unit_seconds", s.UnitSeconds); err != nil {
		return err
	}
	if s.UnitSeconds != 0 && s.UnitSeconds < 10 {
		return invalidf("unit_seconds %g is below 10", s.UnitSeconds)
	}
	if s.MaxHeight != 0 && (s.MaxHeight < 360 || s.MaxHeight > 2160) {
		return invalidf("max_height %d is outside 360..2160", s.MaxHeight)
	}
	if len(s.Name) > 255 || strings.ContainsRune(s.Name, 0) {
		return invalidf("name must be at most 255 characters without NUL")
	}
	if len(s.Course) > 255 || strings.ContainsRune(s.Course, 0) {
		return invalidf("course must be at most 255 characters without NUL")
	}
	return nil
}

// Redacted returns the spec with the session cookie blanked, for replies,
// events and logs.
func (s JobSpec) Redacted() JobSpec {
	if s.SessionCookie != "" {
		s.SessionCookie = "<redacted>"
	}
	s.URL = RedactURL(s.URL)
	return s
}

var (
	tokenQuery = regexp.MustCompile(`(?i)((?:recordAccessToken|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|token)=)[^&#\s"]+`)
	tokenPath  = regexp.MustCompile(`(?i)(/record-(?:new|file)/[^?#\s"]*?/)[0-9a-f]{32}\b`)
)

// RedactURL hides the secrets a recording or presigned URL may carry (a
// share link's recordAccessToken, as a query parameter or a trailing 32-hex
// segment; S3 signatures and credentials) anywhere in s, so s can be shown to
// a user or logged.
func RedactURL(s string) string {
	s = tokenQuery.ReplaceAllString(s, "${1}<redacted>")
	return tokenPath.ReplaceAllString(s, "${1}<redacted>")
}

// The job API requests and replies.

// SubmitRequest is the body of mtsfarm.api.submit and mtsfarm.intake. Type is
// optional here so a person can type `nats req mtsfarm.api.submit
// '{"url":"…"}'`; when present it must be TypeSubmitRequest. Either URL or
// URLs (a whole course) is given; the other fields apply to every URL.
type SubmitRequest struct {
	Type          string   `json:"type,omitempty"`
	URL           string   `json:"url,omitempty"`
	URLs          []string `json:"urls,omitempty"`
	SessionCookie string   `json:"session_cookie,omitempty"`
	Name          string   `json:"name,omitempty"`
	Course        string   `json:"course,omitempty"`
	Priority      int      `json:"priority,omitempty"`
	UnitSeconds   float64  `json:"unit_seconds,omitempty"`
	MaxHeight     int      `json:"max_height,omitempty"`
	Force         bool     `json:"force,omitempty"`
}

func (SubmitRequest) MessageType() string { return TypeSubmitRequest }

// MaxURLsPerSubmit bounds one submission (a course is about 30 webinars).
const MaxURLsPerSubmit = 500

// Specs returns one JobSpec per URL of the request.
func (r SubmitRequest) Specs() []JobSpec {
	urls := r.URLs
	if r.URL != "" {
		urls = append([]string{r.URL}, urls...)
	}
	specs := make([]JobSpec, 0, len(urls))
	for _, u := range urls {
		specs = append(specs, JobSpec{Type: TypeJobSpec, URL: strings.TrimSpace(u),
			SessionCookie: r.SessionCookie, Name: r.Name, Course: r.Course, Priority: r.Priority,
			UnitSeconds: r.UnitSeconds, MaxHeight: r.MaxHeight, Force: r.Force})
	}
	return specs
}

func (r SubmitRequest) Validate() error {
	if r.Type != "" {
		if err := checkType(r.Type, TypeSubmitRequest); err != nil {
			return err
		}
	}
	if r.URL == "" && len(r.URLs) == 0 {
		return invalidf(`give "url" (one recording) or "urls" (several)`)
	}
	if len(r.URLs) > MaxURLsPerSubmit {
		return invalidf("%d urls in one submission; the limit is %d", len(r.URLs), MaxURLsPerSubmit)
	}
	for i, s := range r.Specs() {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("url %d: %w", i+1, err)
		}
	}
	return nil
}

// SubmittedJob is one entry of a SubmitReply.
type SubmittedJob struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Existing is true when an earlier job for the same recording and
	// options was returned instead of a new one.
	Existing bool     `json:"existing,omitempty"`
	State    JobState `json:"state"`
}

// SubmitReply answers mtsfarm.api.submit.
type SubmitReply struct {
	Type string         `json:"type"`
	Jobs []SubmittedJob `json:"jobs"`
}

func (SubmitReply) MessageType() string { return TypeSubmitReply }

func (r SubmitReply) Validate() error {
	if err := checkType(r.Type, TypeSubmitReply); err != nil {
		return err
	}
	for _, j := range r.Jobs {
		if err := checkJobID(j.ID); err != nil {
			return err
		}
	}
	return nil
}

// JobRequest is the body of mtsfarm.api.status, .cancel and .retry (and
// .list, where Job is empty). Type is optional for hand-typed requests.
type JobRequest struct {
	Type string `json:"type,omitempty"`
	Job  string `json:"job,omitempty"`
	// State filters .list and .status without a job.
	State JobState `json:"state,omitempty"`
	// Limit bounds .list (newest first); 0 means 100.
	Limit int `json:"limit,omitempty"`
	// Priority is the new priority of .priority (higher first; see Lane).
	Priority *int `json:"priority,omitempty"`
}

func (JobRequest) MessageType() string { return TypeJobRequest }

func (r JobRequest) Validate() error {
	if r.Type != "" {
		if err := checkType(r.Type, TypeJobRequest); err != nil {
			return err
		}
	}
	if r.Job != "" {
		if err := checkJobID(r.Job); err != nil {
			return err
		}
	}
	if r.State != "" && !r.State.Known() {
		return invalidf("unknown state %q", r.State)
	}
	if r.Limit < 0 {
		return invalidf("limit is negative")
	}
	return nil
}

// APIError is the body of every failed API request (the micro error headers
// carry the same code and text).
type APIError struct {
	Type  string `json:"type"`
	Code  int    `json:"code"`
	Error string `json:"error"`
}

func (APIError) MessageType() string { return TypeAPIError }

func (e APIError) Validate() error {
	if err := checkType(e.Type, TypeAPIError); err != nil {
		return err
	}
	if e.Error == "" {
		return invalidf("error text is empty")
	}
	return nil
}
