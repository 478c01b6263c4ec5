package proto

import "strings"

// Media information probed from stored files.

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

// Fetch tasks.

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
