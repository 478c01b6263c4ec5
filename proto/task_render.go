package proto

import "math"

// Render units: the self-contained task of a renderer.

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
	// JobGeneration is the job's generation (it grows on every retry) when
	// the unit was published; a cancel of that generation stops the unit.
	JobGeneration int `json:"job_generation,omitempty"`
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
