package proto

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every validation error: a message that fails
// validation is terminated with the reason, never retried.
var ErrInvalid = errors.New("invalid message")

// Message type names.
const (
	TypeJobSpec       = "mtsfarm.v1.job_spec"
	TypeSubmitRequest = "mtsfarm.v1.submit_request"
	TypeSubmitReply   = "mtsfarm.v1.submit_reply"
	TypeJobRequest    = "mtsfarm.v1.job_request"
	TypeAPIError      = "mtsfarm.v1.error"
	TypeJob           = "mtsfarm.v1.job"
	TypeFetchTask     = "mtsfarm.v1.fetch_task"
	TypeFetchResult   = "mtsfarm.v1.fetch_result"
	TypeRenderUnit    = "mtsfarm.v1.render_unit"
	TypeUnitResult    = "mtsfarm.v1.unit_result"
	TypeFinalizeTask  = "mtsfarm.v1.finalize_task"
	TypeEvent         = "mtsfarm.v1.event"
	TypeWorker        = "mtsfarm.v1.worker"
	TypePlan          = "mtsfarm.v1.plan"
)

// Message is implemented by every wire type.
type Message interface {
	MessageType() string
	Validate() error
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkType(got, want string) error {
	if got != want {
		return invalidf("type is %q, want %q", got, want)
	}
	return nil
}

func finite(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalidf("%s is not a finite number", name)
	}
	return nil
}

func nonNegative(name string, v float64) error {
	if err := finite(name, v); err != nil {
		return err
	}
	if v < 0 {
		return invalidf("%s is negative (%g)", name, v)
	}
	return nil
}

func checkKeyField(name, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ---------------------------------------------------------------- job spec

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
	// Name is the output name template ("{title}" when empty).
	Name string `json:"name,omitempty"`
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
	return nil
}

// Redacted returns the spec with the session cookie blanked, for replies,
// events and logs.
func (s JobSpec) Redacted() JobSpec {
	if s.SessionCookie != "" {
		s.SessionCookie = "<redacted>"
	}
	return s
}

// ---------------------------------------------------------------- API

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
			SessionCookie: r.SessionCookie, Name: r.Name, Priority: r.Priority,
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

// ---------------------------------------------------------------- job record

// JobState is the state of a job. The only transitions are
// queued → resolving → fetching → rendering → finalizing → done, and from any
// non-terminal state to failed or canceled; retry moves failed back to
// rendering (or fetching).
type JobState string

const (
	StateQueued     JobState = "queued"
	StateResolving  JobState = "resolving"
	StateFetching   JobState = "fetching"
	StateRendering  JobState = "rendering"
	StateFinalizing JobState = "finalizing"
	StateDone       JobState = "done"
	StateFailed     JobState = "failed"
	StateCanceled   JobState = "canceled"
)

// Known reports whether s is one of the job states.
func (s JobState) Known() bool {
	switch s {
	case StateQueued, StateResolving, StateFetching, StateRendering, StateFinalizing,
		StateDone, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Terminal reports whether no more work happens in state s.
func (s JobState) Terminal() bool {
	return s == StateDone || s == StateFailed || s == StateCanceled
}

// TaskState is the state of one fetch chunk or render unit of a job.
type TaskState string

const (
	TaskPending TaskState = "pending" // not yet published (inputs missing)
	TaskQueued  TaskState = "queued"  // published, waiting for a worker
	TaskRunning TaskState = "running" // a worker reported progress
	TaskDone    TaskState = "done"    // stored
	TaskInvalid TaskState = "invalid" // fetched but undecodable after retries: planned as absent
	TaskFailed  TaskState = "failed"  // gave up
)

// Failure is one failed attempt of a task, kept on the job record.
type Failure struct {
	Worker string    `json:"worker"`
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

// ChunkState is one fetch task of a job (a media chunk or a slide image).
type ChunkState struct {
	Index    int        `json:"index"`
	Kind     string     `json:"kind"`              // FetchMedia or FetchSlide
	Session  string     `json:"session,omitempty"` // media session id (FetchMedia)
	URL      string     `json:"url"`
	Key      string     `json:"key"`
	State    TaskState  `json:"state"`
	Attempts int        `json:"attempts,omitempty"`
	Worker   string     `json:"worker,omitempty"`
	Bytes    int64      `json:"bytes,omitempty"`
	Media    *MediaInfo `json:"media,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// UnitState is one render unit of a job.
type UnitState struct {
	Index      int       `json:"index"`
	Start      float64   `json:"start"`
	End        float64   `json:"end"`
	State      TaskState `json:"state"`
	Generation int       `json:"generation"`
	Attempts   int       `json:"attempts,omitempty"`
	Worker     string    `json:"worker,omitempty"`
	Encoder    string    `json:"encoder,omitempty"`
	VideoKey   string    `json:"video_key,omitempty"`
	AudioKey   string    `json:"audio_key,omitempty"`
	Rendered   float64   `json:"rendered,omitempty"` // seconds rendered so far
	Elapsed    float64   `json:"elapsed,omitempty"`  // seconds of work for the successful attempt
	Failures   []Failure `json:"failures,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Progress is a job's overall progress.
type Progress struct {
	Stage    string  `json:"stage,omitempty"`
	Fraction float64 `json:"fraction"` // 0..1 over the whole job
	// ETASeconds is the estimated time to done; 0 when unknown.
	ETASeconds float64 `json:"eta_seconds,omitempty"`
	BytesDone  int64   `json:"bytes_done,omitempty"`
	BytesTotal int64   `json:"bytes_total,omitempty"`
	// BytesPerSecond is the current download rate of a fetch task.
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
	// RenderedSeconds of the timeline over Duration.
	RenderedSeconds float64 `json:"rendered_seconds,omitempty"`
}

// Job is the job record kept in KV BucketJobs under the job id, changed only
// by compare-and-set.
type Job struct {
	Type string  `json:"type"`
	ID   string  `json:"id"`
	Spec JobSpec `json:"spec"`
	// Recording identifies the recording (event session / record file),
	// used for idempotent submission.
	Recording string   `json:"recording"`
	State     JobState `json:"state"`
	// Generation increments on every retry; it is part of every task's
	// Nats-Msg-Id so retried tasks are not deduplicated.
	Generation int     `json:"generation"`
	Title      string  `json:"title,omitempty"`
	Duration   float64 `json:"duration,omitempty"`
	// Width × Height is the output size, frozen once one chunk of every
	// shown stream is probed; every unit is rendered at it.
	Width      int          `json:"width,omitempty"`
	Height     int          `json:"height,omitempty"`
	Chunks     []ChunkState `json:"chunks,omitempty"`
	Units      []UnitState  `json:"units,omitempty"`
	OutputKey  string       `json:"output_key,omitempty"`
	OutputSize int64        `json:"output_size,omitempty"`
	Error      string       `json:"error,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
	Progress   Progress     `json:"progress"`
	Created    time.Time    `json:"created"`
	Updated    time.Time    `json:"updated"`
	Finished   time.Time    `json:"finished,omitzero"`
	// Timings holds seconds spent per stage (resolve, fetch, render, finalize).
	Timings map[string]float64 `json:"timings,omitempty"`
}

func (Job) MessageType() string { return TypeJob }

func (j Job) Validate() error {
	if err := checkType(j.Type, TypeJob); err != nil {
		return err
	}
	if err := checkJobID(j.ID); err != nil {
		return err
	}
	if !j.State.Known() {
		return invalidf("unknown job state %q", j.State)
	}
	if err := j.Spec.Validate(); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nonNegative("duration", j.Duration)
}

// ---------------------------------------------------------------- media

// MediaInfo is what ffprobe found in a stored file.
type MediaInfo struct {
	Duration   float64 `json:"duration"`
	Size       int64   `json:"size"`
	Format     string  `json:"format,omitempty"`
	HasVideo   bool    `json:"has_video"`
	HasAudio   bool    `json:"has_audio"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	FPS        float64 `json:"fps,omitempty"`
	VideoCodec string  `json:"video_codec,omitempty"`
	AudioCodec string  `json:"audio_codec,omitempty"`
	SampleRate int     `json:"sample_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`
	// Source says how a media chunk was fetched: "direct" or "hls".
	Source string `json:"source,omitempty"`
}

// Validate checks that the media is usable: at least one stream and a
// positive duration (spec §5.5, §5.9).
func (m MediaInfo) Validate() error {
	if err := finite("duration", m.Duration); err != nil {
		return err
	}
	if !m.HasVideo && !m.HasAudio {
		return invalidf("media has neither a video nor an audio stream")
	}
	if m.Duration <= 0 {
		return invalidf("media duration is %g", m.Duration)
	}
	if m.HasVideo && (m.Width <= 0 || m.Height <= 0) {
		return invalidf("video stream has no size (%dx%d)", m.Width, m.Height)
	}
	return nil
}

// ---------------------------------------------------------------- fetch

// Fetch task kinds.
const (
	FetchResolve = "resolve" // GET the flow JSON, store it at Key
	FetchMedia   = "media"   // download a media chunk (direct or HLS), validate, store at Key
	FetchSlide   = "slide"   // download a slide image, store at Key
)

// FetchTask is published on FetchSubject(job) for the fetchers.
type FetchTask struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Kind       string `json:"kind"`
	Index      int    `json:"index"`
	Generation int    `json:"generation"`
	// URL is the recording URL (resolve) or the media/slide URL.
	URL string `json:"url"`
	// Key is where the fetched object goes.
	Key string `json:"key"`
	// Session is the media session id (media), for events and logs.
	Session string `json:"session,omitempty"`
	// SessionCookie is sent with the flow request only (resolve); a secret.
	SessionCookie string `json:"session_cookie,omitempty"`
}

func (FetchTask) MessageType() string { return TypeFetchTask }

func (t FetchTask) Validate() error {
	if err := checkType(t.Type, TypeFetchTask); err != nil {
		return err
	}
	if err := checkJobID(t.Job); err != nil {
		return err
	}
	switch t.Kind {
	case FetchResolve, FetchMedia, FetchSlide:
	default:
		return invalidf("unknown fetch kind %q (want resolve, media or slide)", t.Kind)
	}
	if t.Index < 0 || t.Generation < 0 {
		return invalidf("index and generation must not be negative")
	}
	if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		return invalidf("url %q is not http(s)", t.URL)
	}
	if t.Kind != FetchResolve && t.SessionCookie != "" {
		return invalidf("session_cookie is only sent with the flow request")
	}
	return checkKeyField("key", t.Key)
}

// Fetch result statuses.
const (
	FetchStored  = "stored"  // the object is stored and validated
	FetchInvalid = "invalid" // fetched but undecodable after retries: plan the source as absent
	FetchFailed  = "failed"  // could not fetch (403, 404, disallowed host, retries exhausted)
)

// FetchResult is published on ResultSubject(job, ResultFetch).
type FetchResult struct {
	Type       string     `json:"type"`
	Job        string     `json:"job"`
	Kind       string     `json:"kind"`
	Index      int        `json:"index"`
	Generation int        `json:"generation"`
	Worker     string     `json:"worker"`
	Status     string     `json:"status"`
	Key        string     `json:"key,omitempty"`
	Media      *MediaInfo `json:"media,omitempty"`
	Bytes      int64      `json:"bytes,omitempty"`
	// Cached is true when the object was already stored and nothing was
	// downloaded.
	Cached   bool    `json:"cached,omitempty"`
	Attempts int     `json:"attempts,omitempty"`
	Elapsed  float64 `json:"elapsed,omitempty"`
	// Error is a message the user can act on (Status failed or invalid).
	Error string `json:"error,omitempty"`
	// Title and Duration are set by a resolve result.
	Title    string  `json:"title,omitempty"`
	Duration float64 `json:"duration,omitempty"`
}

func (FetchResult) MessageType() string { return TypeFetchResult }

func (r FetchResult) Validate() error {
	if err := checkType(r.Type, TypeFetchResult); err != nil {
		return err
	}
	if err := checkJobID(r.Job); err != nil {
		return err
	}
	switch r.Status {
	case FetchStored:
		if err := checkKeyField("key", r.Key); err != nil {
			return err
		}
	case FetchInvalid, FetchFailed:
		if r.Error == "" {
			return invalidf("a %s fetch result needs an error", r.Status)
		}
	default:
		return invalidf("unknown fetch status %q", r.Status)
	}
	return nonNegative("duration", r.Duration)
}

// ---------------------------------------------------------------- render

// Layouts of a window (issue 4 rules).
const (
	LayoutGap       = "gap"
	LayoutSingle    = "single"
	LayoutPresenter = "presenter"
	LayoutSlides    = "slides"
	LayoutGrid      = "grid"
)

// Source kinds.
const (
	SourceWebcam      = "webcam"
	SourceScreenshare = "screenshare"
	SourceAudio       = "audio" // no video: heard only
	SourceSlide       = "slide" // a still image
)

// Encoding is what every unit of a job is encoded with, so units from any
// renderer join by stream copy.
type Encoding struct {
	Codec   string `json:"codec"`   // "h264"
	PixFmt  string `json:"pix_fmt"` // "yuv420p"
	Profile string `json:"profile"` // "high"
	// GOP is the keyframe interval in frames (closed GOPs; a unit starts on
	// a keyframe).
	GOP int `json:"gop"`
	// Quality is the constant-quality target (x264 CRF, NVENC CQ).
	Quality int `json:"quality"`
	// Preset is the x264 preset; NVENC maps it to its own.
	Preset string `json:"preset"`
	// Encoder forces "libx264" or "h264_nvenc"; empty picks the best the
	// renderer has.
	Encoder string `json:"encoder,omitempty"`
	// AudioRate and AudioChannels of the lossless unit audio.
	AudioRate     int `json:"audio_rate"`
	AudioChannels int `json:"audio_channels"`
}

// DefaultEncoding is the job default.
func DefaultEncoding() Encoding {
	return Encoding{Codec: "h264", PixFmt: "yuv420p", Profile: "high", GOP: 50, Quality: 23,
		Preset: "veryfast", AudioRate: 48000, AudioChannels: 2}
}

func (e Encoding) Validate() error {
	if e.Codec != "h264" {
		return invalidf("codec %q is not supported (h264 only)", e.Codec)
	}
	if e.PixFmt != "yuv420p" {
		return invalidf("pix_fmt %q is not supported (yuv420p only)", e.PixFmt)
	}
	if e.GOP < 1 || e.GOP > 600 {
		return invalidf("gop %d is outside 1..600", e.GOP)
	}
	if e.Quality < 0 || e.Quality > 51 {
		return invalidf("quality %d is outside 0..51", e.Quality)
	}
	switch e.Encoder {
	case "", "libx264", "h264_nvenc":
	default:
		return invalidf("encoder %q is not libx264 or h264_nvenc", e.Encoder)
	}
	if e.AudioRate < 8000 || e.AudioRate > 192000 {
		return invalidf("audio_rate %d is outside 8000..192000", e.AudioRate)
	}
	if e.AudioChannels < 1 || e.AudioChannels > 8 {
		return invalidf("audio_channels %d is outside 1..8", e.AudioChannels)
	}
	return nil
}

// UnitSource is one input of a render unit: a range of a stored media file,
// or a slide image.
type UnitSource struct {
	// ID is the media session id, or the slide id for Kind SourceSlide; the
	// windows refer to sources by ID.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// Offset is the position in the source file, in seconds, that plays at
	// unit-relative time At; Duration is how much of it the unit needs.
	Offset   float64 `json:"offset"`
	At       float64 `json:"at"`
	Duration float64 `json:"duration"`
	HasVideo bool    `json:"has_video"`
	HasAudio bool    `json:"has_audio"`
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
	// SampleRate of the source audio (it is resampled to Encoding.AudioRate).
	SampleRate int `json:"sample_rate,omitempty"`
}

// UnitWindow is a span of a unit with one layout. Times are unit-relative;
// the windows of a unit tile [0, End-Start] of the unit.
type UnitWindow struct {
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Layout string  `json:"layout"`
	// Main and Pip are source ids (presenter, single: Main only).
	Main string `json:"main,omitempty"`
	Pip  string `json:"pip,omitempty"`
	// Column is the webcam column of the slides layout, top down.
	Column []string `json:"column,omitempty"`
	// Grid is the grid's sources, row-major.
	Grid []string `json:"grid,omitempty"`
	// Slide is the source id of the slide image (slides layout).
	Slide string `json:"slide,omitempty"`
	// Audio is every source heard in the window (shown or not).
	Audio []string `json:"audio,omitempty"`
}

// RenderUnit is published on RenderSubject(job): everything a renderer needs
// to render one piece of the job's video, self-contained.
type RenderUnit struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Index      int    `json:"index"`
	Generation int    `json:"generation"`
	// Start and End place the unit on the job timeline (seconds).
	Start    float64      `json:"start"`
	End      float64      `json:"end"`
	Width    int          `json:"width"`
	Height   int          `json:"height"`
	FPS      int          `json:"fps"`
	Encoding Encoding     `json:"encoding"`
	Sources  []UnitSource `json:"sources"`
	Windows  []UnitWindow `json:"windows"`
	// VideoKey receives the encoded video; AudioKey the lossless window audio.
	VideoKey string `json:"video_key"`
	AudioKey string `json:"audio_key"`
	// ExcludeWorkers lists workers that failed this unit twice: they hand
	// the unit back instead of rendering it.
	ExcludeWorkers []string `json:"exclude_workers,omitempty"`
}

func (RenderUnit) MessageType() string { return TypeRenderUnit }

// Duration is the unit's length in seconds.
func (u RenderUnit) Duration() float64 { return u.End - u.Start }

// Source returns the source with the given id.
func (u RenderUnit) Source(id string) (UnitSource, bool) {
	for _, s := range u.Sources {
		if s.ID == id {
			return s, true
		}
	}
	return UnitSource{}, false
}

// Validate checks the unit is renderable: geometry, tiling windows, and every
// id a window names is a source of the unit.
func (u RenderUnit) Validate() error {
	if err := checkType(u.Type, TypeRenderUnit); err != nil {
		return err
	}
	if err := checkJobID(u.Job); err != nil {
		return err
	}
	if u.Index < 0 || u.Generation < 0 {
		return invalidf("index and generation must not be negative")
	}
	if err := nonNegative("start", u.Start); err != nil {
		return err
	}
	if err := finite("end", u.End); err != nil {
		return err
	}
	if u.End <= u.Start {
		return invalidf("unit end %g is not after start %g", u.End, u.Start)
	}
	if u.Width < 16 || u.Height < 16 || u.Width > 7680 || u.Height > 4320 || u.Width%2 != 0 || u.Height%2 != 0 {
		return invalidf("geometry %dx%d must be even and between 16x16 and 7680x4320", u.Width, u.Height)
	}
	if u.FPS < 1 || u.FPS > 120 {
		return invalidf("fps %d is outside 1..120", u.FPS)
	}
	if err := u.Encoding.Validate(); err != nil {
		return err
	}
	if err := checkKeyField("video_key", u.VideoKey); err != nil {
		return err
	}
	if err := checkKeyField("audio_key", u.AudioKey); err != nil {
		return err
	}
	ids := make(map[string]UnitSource, len(u.Sources))
	for i, s := range u.Sources {
		if s.ID == "" {
			return invalidf("source %d has no id", i)
		}
		if _, dup := ids[s.ID]; dup {
			return invalidf("source id %q appears twice", s.ID)
		}
		switch s.Kind {
		case SourceWebcam, SourceScreenshare, SourceAudio, SourceSlide:
		default:
			return invalidf("source %q has unknown kind %q", s.ID, s.Kind)
		}
		if err := checkKeyField("source "+s.ID+" key", s.Key); err != nil {
			return err
		}
		for name, v := range map[string]float64{"offset": s.Offset, "at": s.At, "duration": s.Duration} {
			if err := nonNegative("source "+s.ID+" "+name, v); err != nil {
				return err
			}
		}
		ids[s.ID] = s
	}
	if len(u.Windows) == 0 {
		return invalidf("unit has no windows")
	}
	const eps = 1e-6
	at := 0.0
	for i, w := range u.Windows {
		if err := finite("window start", w.Start); err != nil {
			return err
		}
		if err := finite("window end", w.End); err != nil {
			return err
		}
		if math.Abs(w.Start-at) > eps {
			return invalidf("window %d starts at %g, want %g (windows must tile the unit)", i, w.Start, at)
		}
		if w.End <= w.Start {
			return invalidf("window %d is empty or reversed (%g..%g)", i, w.Start, w.End)
		}
		at = w.End
		if err := checkWindowRefs(i, w, ids); err != nil {
			return err
		}
	}
	if math.Abs(at-u.Duration()) > eps {
		return invalidf("windows end at %g, unit is %g long", at, u.Duration())
	}
	return nil
}

func checkWindowRefs(i int, w UnitWindow, ids map[string]UnitSource) error {
	ref := func(role, id string, wantVideo bool) error {
		s, ok := ids[id]
		if !ok {
			return invalidf("window %d %s %q is not a source of the unit", i, role, id)
		}
		if wantVideo && !s.HasVideo && s.Kind != SourceSlide {
			return invalidf("window %d shows %q, which has no video", i, id)
		}
		return nil
	}
	switch w.Layout {
	case LayoutGap:
	case LayoutSingle:
		if err := ref("main", w.Main, true); err != nil {
			return err
		}
	case LayoutPresenter:
		if err := ref("main", w.Main, true); err != nil {
			return err
		}
		if w.Pip != "" {
			if err := ref("pip", w.Pip, true); err != nil {
				return err
			}
		}
	case LayoutSlides:
		if err := ref("slide", w.Slide, false); err != nil {
			return err
		}
		if ids[w.Slide].Kind != SourceSlide {
			return invalidf("window %d slide %q is not a slide source", i, w.Slide)
		}
		if len(w.Column) > 4 {
			return invalidf("window %d has %d webcams in the slides column (at most 4)", i, len(w.Column))
		}
		for _, id := range w.Column {
			if err := ref("column", id, true); err != nil {
				return err
			}
		}
	case LayoutGrid:
		if len(w.Grid) < 2 {
			return invalidf("window %d is a grid of %d sources", i, len(w.Grid))
		}
		for _, id := range w.Grid {
			if err := ref("grid", id, true); err != nil {
				return err
			}
		}
	default:
		return invalidf("window %d has unknown layout %q", i, w.Layout)
	}
	seen := map[string]bool{}
	for _, id := range w.Audio {
		if seen[id] {
			return invalidf("window %d hears %q twice", i, id)
		}
		seen[id] = true
		if err := ref("audio", id, false); err != nil {
			return err
		}
	}
	return nil
}

// Unit result statuses.
const (
	UnitDone   = "done"
	UnitFailed = "failed"
)

// UnitResult is published on ResultSubject(job, ResultRender).
type UnitResult struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Index      int    `json:"index"`
	Generation int    `json:"generation"`
	Worker     string `json:"worker"`
	Status     string `json:"status"`
	Encoder    string `json:"encoder,omitempty"`
	VideoKey   string `json:"video_key,omitempty"`
	AudioKey   string `json:"audio_key,omitempty"`
	// Duration is the probed duration of the rendered video.
	Duration float64 `json:"duration,omitempty"`
	Elapsed  float64 `json:"elapsed,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func (UnitResult) MessageType() string { return TypeUnitResult }

func (r UnitResult) Validate() error {
	if err := checkType(r.Type, TypeUnitResult); err != nil {
		return err
	}
	if err := checkJobID(r.Job); err != nil {
		return err
	}
	if r.Worker == "" {
		return invalidf("unit result has no worker")
	}
	switch r.Status {
	case UnitDone:
		if err := checkKeyField("video_key", r.VideoKey); err != nil {
			return err
		}
		if err := checkKeyField("audio_key", r.AudioKey); err != nil {
			return err
		}
	case UnitFailed:
		if r.Error == "" {
			return invalidf("a failed unit result needs an error")
		}
	default:
		return invalidf("unknown unit status %q", r.Status)
	}
	return nonNegative("duration", r.Duration)
}

// ---------------------------------------------------------------- finalize

// FinalizeTask is published on FinalizeSubject(job) once every unit is
// stored; any coordinator replica takes it.
type FinalizeTask struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Generation int    `json:"generation"`
}

func (FinalizeTask) MessageType() string { return TypeFinalizeTask }

func (t FinalizeTask) Validate() error {
	if err := checkType(t.Type, TypeFinalizeTask); err != nil {
		return err
	}
	if t.Generation < 0 {
		return invalidf("generation is negative")
	}
	return checkJobID(t.Job)
}

// ---------------------------------------------------------------- events

// Event is published on EventSubject(job, Kind).
type Event struct {
	Type    string    `json:"type"`
	Job     string    `json:"job"`
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	State   JobState  `json:"state,omitempty"`
	Message string    `json:"message,omitempty"`
	// Task is "resolve", "fetch", "render" or "finalize"; Index its chunk
	// or unit index.
	Task     string    `json:"task,omitempty"`
	Index    int       `json:"index,omitempty"`
	Worker   string    `json:"worker,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
}

func (Event) MessageType() string { return TypeEvent }

func (e Event) Validate() error {
	if err := checkType(e.Type, TypeEvent); err != nil {
		return err
	}
	if err := checkJobID(e.Job); err != nil {
		return err
	}
	if e.Kind == "" || strings.ContainsAny(e.Kind, ".*> ") {
		return invalidf("event kind %q is not a subject token", e.Kind)
	}
	return nil
}

// ---------------------------------------------------------------- workers

// Worker roles.
const (
	RoleCoordinator = "coordinator"
	RoleFetcher     = "fetcher"
	RoleRenderer    = "renderer"
)

// WorkerInfo is a worker's presence entry in KV BucketWorkers (key = ID),
// renewed every few seconds and expiring with the bucket TTL.
type WorkerInfo struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Roles    []string  `json:"roles"`
	Encoders []string  `json:"encoders,omitempty"`
	GPU      string    `json:"gpu,omitempty"`
	CUDA     bool      `json:"cuda,omitempty"`
	Slots    int       `json:"slots,omitempty"`
	Current  []string  `json:"current,omitempty"` // "<job>/<unit>" being worked on
	Version  string    `json:"version,omitempty"`
	Started  time.Time `json:"started"`
	Seen     time.Time `json:"seen"`
}

func (WorkerInfo) MessageType() string { return TypeWorker }

var workerIDRe = jobIDRe

// ValidWorkerID reports whether id can be a KV key and a subject token.
func ValidWorkerID(id string) bool { return workerIDRe.MatchString(id) }

// DefaultWorkerID names a worker of a role on a host ("renderer-gpu-node-1"):
// lower case, every character a worker id cannot hold replaced by "-", cut
// to 64 characters. Hosts must still give each worker a unique id.
func DefaultWorkerID(role, host string) string {
	b := []byte(strings.ToLower(role + "-" + host))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func (w WorkerInfo) Validate() error {
	if err := checkType(w.Type, TypeWorker); err != nil {
		return err
	}
	if !ValidWorkerID(w.ID) {
		return invalidf("worker id %q must be 1-64 characters of a-z, 0-9, _ and -", w.ID)
	}
	if len(w.Roles) == 0 {
		return invalidf("worker %s has no roles", w.ID)
	}
	return nil
}
