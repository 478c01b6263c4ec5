package mtstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// Scenario is what the fake server serves: one webinar or a course of them.
// A scenario file holds one webinar object or {"webinars": [...]}.
type Scenario struct {
	Webinars []*Webinar `json:"webinars"`
}

// Webinar is one recording. Times are seconds on the recording timeline.
type Webinar struct {
	Name     string  `json:"name"`
	Duration float64 `json:"duration"`
	// Org may be a number or an alias ("MTC"); Event, EventSessionID and
	// RecordFileID are numbers. RecordFileID empty (or 0) makes a quick
	// meeting: its URL has no /record-file/ and only the
	// eventsessions/{id}/record endpoint serves it.
	Org            mts.ID `json:"org"`
	Event          mts.ID `json:"event"`
	EventSessionID mts.ID `json:"event_session_id"`
	RecordFileID   mts.ID `json:"record_file_id,omitempty"`
	// Private makes the flow endpoints answer 403 with the
	// {"error":{"code":403}} body unless the request carries the sessionId
	// cookie SessionCookie (default "fake-session-cookie") or the
	// recordAccessToken AccessToken.
	Private       bool   `json:"private,omitempty"`
	SessionCookie string `json:"session_cookie,omitempty"`
	// PrivateStatus is the HTTP status of that 403 body (default 403; 200
	// checks that clients read the body whatever the status, spec §1.2).
	PrivateStatus int `json:"private_status,omitempty"`
	// AccessToken is the 32-hex recordAccessToken of the share link; when
	// set, the printed recording URL carries it as a trailing segment.
	AccessToken string `json:"access_token,omitempty"`
	// Date (YYYY-MM-DD) names the storage folders and sets the epoch times;
	// default 2026-03-24.
	Date         string        `json:"date,omitempty"`
	Participants []Participant `json:"participants"`
	Streams      []Stream      `json:"streams"`
	Slides       []Slide       `json:"slides,omitempty"`
	Faults       []Fault       `json:"faults,omitempty"`
	// Cuts are organizer-marked removed intervals of the full timeline. The
	// flow with withoutCuts=true has every event and the full duration; any
	// other request gets the edited view (events inside cuts dropped, later
	// times shifted, duration shortened), as spec §2.1 describes.
	Cuts []Span `json:"cuts,omitempty"`
	// Texture is the default Texture of the video streams ("solid").
	Texture string `json:"texture,omitempty"`
}

// Span is an interval of the recording timeline.
type Span struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Participant is a user of the webinar.
type Participant struct {
	ID   mts.ID `json:"id"`
	Name string `json:"name"`
	// Role is ADMIN, LECTURER or USER (default USER).
	Role string `json:"role,omitempty"`
	// ConferenceUpdates change the participant's conference flags
	// (conference.update events).
	ConferenceUpdates []ConferenceUpdate `json:"conference_updates,omitempty"`
}

// ConferenceUpdate is one conference.update: flags left nil are not sent.
type ConferenceUpdate struct {
	At       float64 `json:"at"`
	HasAudio *bool   `json:"has_audio,omitempty"`
	HasVideo *bool   `json:"has_video,omitempty"`
}

// Stream kinds.
const (
	KindWebcam      = "webcam"      // solid color video + sine tone (conference stream)
	KindScreenshare = "screenshare" // solid color video, no audio stream (screensharing stream)
	KindAudio       = "audio"       // audio only (conference stream without video)
)

// Stream is one logical stream, recorded as chunks of ChunkSeconds.
type Stream struct {
	Kind        string `json:"kind"`
	Participant mts.ID `json:"participant"`
	// Start may be negative (the recording started after the stream).
	Start float64 `json:"start"`
	// Duration defaults to the rest of the webinar.
	Duration float64 `json:"duration,omitempty"`
	// Width and Height default to 640×360 (webcam) and 1920×1080
	// (screenshare); both must be even.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Color is "#rrggbb" (default a gray).
	Color string `json:"color,omitempty"`
	// Texture is the picture: "solid" (the default, or the webinar's
	// Texture) fills the frame with Color; "moving" is ffmpeg's testsrc2
	// pattern tinted by Color, so decode, scale and encode cost what they
	// cost on real recordings (benchmarks). Fidelity tests use solid.
	Texture string `json:"texture,omitempty"`
	// ToneHz is the sine of webcam and audio streams; 0 is digital silence.
	ToneHz int `json:"tone_hz,omitempty"`
	// SampleRate defaults to 48000.
	SampleRate int `json:"sample_rate,omitempty"`
	// ChunkSeconds splits the stream into mediasession chunks (default: one).
	ChunkSeconds float64 `json:"chunk_seconds,omitempty"`
	// HLS serves the HLS variant of spec §3.3 for each chunk (default true:
	// the real delivery host has one for every recorded file).
	HLS *bool `json:"hls,omitempty"`
	// Fallback logs the chunks as an unknown module whose data has a url
	// (spec §2.4 "fallback" sessions) instead of mediasession.add, with no
	// mediasession.update.
	Fallback bool `json:"fallback,omitempty"`
	// UpdateBeforeAdd puts the first chunk's mediasession.update before its
	// mediasession.add in the log (spec §5.17).
	UpdateBeforeAdd bool `json:"update_before_add,omitempty"`
	// NoUpdate leaves out every mediasession.update (durations unknown).
	NoUpdate bool `json:"no_update,omitempty"`
}

// Stream textures.
const (
	TextureSolid  = "solid"
	TextureMoving = "moving"
)

// Slide is a slide change at At, or the end of the presentation when End.
type Slide struct {
	At    float64 `json:"at"`
	Color string  `json:"color,omitempty"`
	End   bool    `json:"end,omitempty"`
	// Number is the slide number (default: its position among the slides,
	// from 1). Two consecutive slides with the same number and color share
	// a URL.
	Number int `json:"number,omitempty"`
}

// Fault kinds. A fault names a media chunk (stream + chunk), a slide, or,
// with neither, the flow endpoints.
const (
	FaultCorruptOnce     = "corrupt_once"      // media: a truncated mp4 without moov on the first request(s)
	FaultHTTP500Once     = "http_500_once"     // media, slide, flow: HTTP 500 on the first request(s)
	FaultHTTP429Once     = "http_429_once"     // media, slide, flow: HTTP 429 with Retry-After on the first request(s)
	FaultResetOnce       = "reset_once"        // media, slide, flow: connection dropped mid-body on the first request(s)
	FaultSlow            = "slow"              // media, slide, flow: body throttled to bytes_per_second
	FaultMissing         = "missing"           // media, slide, flow: 404 always
	FaultMissingOnce     = "missing_once"      // media, slide: 404 on the first GET request(s), then served (a CDN catching up)
	FaultAudioOnlyDirect = "audio_only_direct" // media: the direct mp4 has only audio, the HLS variant video and audio
)

// Fault injects a failure.
type Fault struct {
	Kind   string `json:"kind"`
	Stream *int   `json:"stream,omitempty"`
	Chunk  int    `json:"chunk,omitempty"`
	Slide  *int   `json:"slide,omitempty"`
	// Times is how many first GET requests of its target a *_once fault
	// hits (default 1); HEAD requests are never faulted (but missing).
	Times int `json:"times,omitempty"`
	// BytesPerSecond throttles a slow fault (default 256 KiB/s).
	BytesPerSecond int `json:"bytes_per_second,omitempty"`
	// RetryAfter is the Retry-After seconds of http_429_once (default 1).
	RetryAfter int `json:"retry_after,omitempty"`
}

// DefaultSessionCookie is the cookie a private webinar accepts when the
// scenario names none.
const DefaultSessionCookie = "fake-session-cookie"

// ParseScenario reads a scenario (one webinar or {"webinars": [...]}), fills
// defaults and validates it.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(data))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("scenario is not a JSON object: %w", err)
	}
	sc := &Scenario{}
	if _, ok := probe["webinars"]; ok {
		if err := dec(sc); err != nil {
			return nil, fmt.Errorf("reading scenario: %w", err)
		}
	} else {
		w := &Webinar{}
		if err := dec(w); err != nil {
			return nil, fmt.Errorf("reading scenario webinar: %w", err)
		}
		sc.Webinars = []*Webinar{w}
	}
	if err := sc.normalize(); err != nil {
		return nil, err
	}
	return sc, nil
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return sc, nil
}

// ScenarioDir is the directory of the bundled scenarios (scripts/scenarios
// in the source tree).
func ScenarioDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("scripts", "scenarios")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "scenarios")
}

// Bundled loads a bundled scenario by file name (e.g. "lecture-slides.json").
func Bundled(name string) (*Scenario, error) {
	return LoadScenario(filepath.Join(ScenarioDir(), name))
}

var (
	colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	hex32   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	digits  = regexp.MustCompile(`^[0-9]{1,20}$`)
	orgRe   = regexp.MustCompile(`^[A-Za-z0-9_.~-]{1,64}$`)
)

func (sc *Scenario) normalize() error {
	if len(sc.Webinars) == 0 {
		return errors.New("scenario has no webinars")
	}
	seen := map[string]int{}
	for i, w := range sc.Webinars {
		if w == nil {
			return fmt.Errorf("webinar %d is null", i)
		}
		if err := w.normalize(); err != nil {
			return fmt.Errorf("webinar %d (%q): %w", i, w.Name, err)
		}
		key := w.EventSessionID.String() + "/" + w.RecordFileID.String()
		if j, ok := seen[key]; ok {
			return fmt.Errorf("webinars %d and %d have the same event_session_id and record_file_id %s", j, i, key)
		}
		seen[key] = i
	}
	return nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func (w *Webinar) normalize() error {
	if strings.TrimSpace(w.Name) == "" {
		return errors.New("name is empty")
	}
	if !(w.Duration > 0) || !finite(w.Duration) {
		return errors.New("duration must be positive")
	}
	if w.Org == "" {
		w.Org = "1"
	}
	if w.Event == "" {
		w.Event = "1"
	}
	if !orgRe.MatchString(w.Org.String()) {
		return fmt.Errorf("org %q is not a number or a plain alias", w.Org)
	}
	for name, v := range map[string]mts.ID{"event": w.Event, "event_session_id": w.EventSessionID} {
		if !digits.MatchString(v.String()) || !v.Valid() {
			return fmt.Errorf("%s %q must be a positive number", name, v)
		}
	}
	if w.RecordFileID == "0" {
		w.RecordFileID = ""
	}
	if w.RecordFileID != "" && !digits.MatchString(w.RecordFileID.String()) {
		return fmt.Errorf("record_file_id %q must be a number", w.RecordFileID)
	}
	if w.SessionCookie == "" {
		w.SessionCookie = DefaultSessionCookie
	}
	if _, err := mts.CleanCookie(w.SessionCookie); err != nil {
		return fmt.Errorf("session_cookie: %w", err)
	}
	if w.PrivateStatus == 0 {
		w.PrivateStatus = 403
	}
	if w.PrivateStatus < 200 || w.PrivateStatus > 599 {
		return fmt.Errorf("private_status %d is not an HTTP status", w.PrivateStatus)
	}
	w.AccessToken = strings.ToLower(w.AccessToken)
	if w.AccessToken != "" && !hex32.MatchString(w.AccessToken) {
		return fmt.Errorf("access_token %q is not 32 hex digits", w.AccessToken)
	}
	if w.Date == "" {
		w.Date = "2026-03-24"
	}
	if _, err := time.Parse(time.DateOnly, w.Date); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", w.Date)
	}
	users := map[mts.ID]bool{}
	for i := range w.Participants {
		p := &w.Participants[i]
		if !p.ID.Valid() {
			return fmt.Errorf("participant %d has no id", i)
		}
		if users[p.ID] {
			return fmt.Errorf("participant id %s appears twice", p.ID)
		}
		users[p.ID] = true
		if p.Name == "" {
			p.Name = "Участник " + p.ID.String()
		}
		p.Role = strings.ToUpper(strings.TrimSpace(p.Role))
		if p.Role == "" {
			p.Role = "USER"
		}
		for _, u := range p.ConferenceUpdates {
			if !finite(u.At) {
				return fmt.Errorf("participant %s: conference update time is not finite", p.ID)
			}
		}
	}
	for i := range w.Streams {
		if err := w.Streams[i].normalize(w, users); err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
	}
	number := 0
	for i := range w.Slides {
		s := &w.Slides[i]
		if !finite(s.At) || s.At < 0 || s.At > w.Duration {
			return fmt.Errorf("slide %d: at %g is outside 0..duration", i, s.At)
		}
		if i > 0 && s.At < w.Slides[i-1].At {
			return fmt.Errorf("slide %d: slides must be in time order", i)
		}
		if s.End {
			continue
		}
		number++
		if s.Number == 0 {
			s.Number = number
		}
		if s.Color == "" {
			s.Color = "#f0f0f0"
		}
		if !colorRe.MatchString(s.Color) {
			return fmt.Errorf("slide %d: color %q is not #rrggbb", i, s.Color)
		}
		s.Color = strings.ToLower(s.Color)
	}
	for i := range w.Faults {
		if err := w.Faults[i].normalize(w); err != nil {
			return fmt.Errorf("fault %d: %w", i, err)
		}
	}
	for i, c := range w.Cuts {
		if !finite(c.Start, c.End) || c.Start < 0 || c.End <= c.Start || c.End > w.Duration {
			return fmt.Errorf("cut %d: want 0 <= start < end <= duration", i)
		}
		if i > 0 && c.Start < w.Cuts[i-1].End {
			return fmt.Errorf("cut %d overlaps or precedes cut %d", i, i-1)
		}
	}
	return nil
}

func (s *Stream) normalize(w *Webinar, users map[mts.ID]bool) error {
	if !users[s.Participant] {
		return fmt.Errorf("participant %q is not in participants", s.Participant)
	}
	if !finite(s.Start, s.Duration, s.ChunkSeconds) {
		return errors.New("times must be finite")
	}
	if s.Start >= w.Duration {
		return fmt.Errorf("start %g is not before the end of the webinar (%g)", s.Start, w.Duration)
	}
	if s.Duration == 0 {
		s.Duration = w.Duration - s.Start
	}
	if s.Duration < 0.2 {
		return fmt.Errorf("duration %g is below 0.2 s", s.Duration)
	}
	if s.Duration > 24*3600 {
		return fmt.Errorf("duration %g is over a day", s.Duration)
	}
	if s.ChunkSeconds == 0 || s.ChunkSeconds > s.Duration {
		s.ChunkSeconds = s.Duration
	}
	if s.ChunkSeconds < 1 {
		return fmt.Errorf("chunk_seconds %g is below 1", s.ChunkSeconds)
	}
	if n := s.chunkCount(); n > 10000 {
		return fmt.Errorf("%d chunks is too many", n)
	}
	switch s.Kind {
	case KindWebcam:
		s.Width, s.Height = orDefault(s.Width, 640), orDefault(s.Height, 360)
	case KindScreenshare:
		s.Width, s.Height = orDefault(s.Width, 1920), orDefault(s.Height, 1080)
		if s.ToneHz != 0 {
			return errors.New("a screenshare has no audio: drop tone_hz")
		}
	case KindAudio:
		if s.Width != 0 || s.Height != 0 || s.Color != "" || s.Texture != "" {
			return errors.New("an audio stream has no video: drop width, height, color and texture")
		}
	default:
		return fmt.Errorf("kind %q is not webcam, screenshare or audio", s.Kind)
	}
	if s.Kind != KindAudio {
		if s.Width < 16 || s.Height < 16 || s.Width > 4096 || s.Height > 2160 || s.Width%2 != 0 || s.Height%2 != 0 {
			return fmt.Errorf("size %dx%d must be even and within 16x16..4096x2160", s.Width, s.Height)
		}
		if s.Color == "" {
			s.Color = "#808080"
		}
		if !colorRe.MatchString(s.Color) {
			return fmt.Errorf("color %q is not #rrggbb", s.Color)
		}
		s.Color = strings.ToLower(s.Color)
		if s.Texture == "" {
			s.Texture = w.Texture
		}
		switch s.Texture {
		case "", TextureSolid:
			s.Texture = ""
		case TextureMoving:
		default:
			return fmt.Errorf("texture %q is not %q or %q", s.Texture, TextureSolid, TextureMoving)
		}
	}
	if s.Kind != KindScreenshare {
		s.SampleRate = orDefault(s.SampleRate, 48000)
		if s.SampleRate < 8000 || s.SampleRate > 96000 {
			return fmt.Errorf("sample_rate %d is outside 8000..96000", s.SampleRate)
		}
		if s.ToneHz < 0 || s.ToneHz*2 >= s.SampleRate {
			return fmt.Errorf("tone_hz %d must be 0 (silence) or below half the sample rate", s.ToneHz)
		}
	} else if s.SampleRate != 0 {
		return errors.New("a screenshare has no audio: drop sample_rate")
	}
	return nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// chunkCount is the number of chunks of the stream.
func (s *Stream) chunkCount() int {
	n := int(math.Ceil(s.Duration/s.ChunkSeconds - 1e-9))
	return max(n, 1)
}

// hls reports whether the stream's chunks have an HLS variant.
func (s *Stream) hls() bool { return s.HLS == nil || *s.HLS }

func (f *Fault) normalize(w *Webinar) error {
	switch f.Kind {
	case FaultCorruptOnce, FaultAudioOnlyDirect:
		if f.Stream == nil {
			return fmt.Errorf("%s needs a stream", f.Kind)
		}
	case FaultHTTP500Once, FaultHTTP429Once, FaultResetOnce, FaultSlow, FaultMissing, FaultMissingOnce:
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.Stream != nil && f.Slide != nil {
		return errors.New("a fault names a stream or a slide, not both")
	}
	if f.Stream != nil {
		if *f.Stream < 0 || *f.Stream >= len(w.Streams) {
			return fmt.Errorf("stream %d does not exist", *f.Stream)
		}
		s := &w.Streams[*f.Stream]
		if f.Chunk < 0 || f.Chunk >= s.chunkCount() {
			return fmt.Errorf("stream %d has no chunk %d", *f.Stream, f.Chunk)
		}
		if f.Kind == FaultAudioOnlyDirect && s.Kind != KindWebcam {
			return errors.New("audio_only_direct needs a webcam stream")
		}
	}
	if f.Slide != nil && (*f.Slide < 0 || *f.Slide >= len(w.Slides) || w.Slides[*f.Slide].End) {
		return fmt.Errorf("slide %d does not exist or ends the presentation", *f.Slide)
	}
	if f.Times == 0 {
		f.Times = 1
	}
	if f.BytesPerSecond == 0 {
		f.BytesPerSecond = 256 << 10
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = 1
	}
	if f.Times < 0 || f.BytesPerSecond < 1024 || f.RetryAfter < 0 {
		return errors.New("times, bytes_per_second (>= 1024) and retry_after must be positive")
	}
	return nil
}

// ParseColor reads "#rrggbb".
func ParseColor(s string) (RGB, error) {
	if !colorRe.MatchString(s) {
		return RGB{}, fmt.Errorf("color %q is not #rrggbb", s)
	}
	v, _ := strconv.ParseUint(s[1:], 16, 32)
	return RGB{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}
