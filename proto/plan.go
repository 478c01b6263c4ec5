package proto

import "math"

// Plan is the planner's output for one job (stored at PlanKey, printed by
// `mtsfarm plan`): the output geometry, every media session, the render units
// with their windows and layouts, the audio-only tracks for the final mix and
// the slide changes. Times are seconds on the job timeline [0, Duration].
type Plan struct {
	Type        string  `json:"type"`
	Title       string  `json:"title"`
	Duration    float64 `json:"duration"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         int     `json:"fps"`
	UnitSeconds float64 `json:"unit_seconds"`
	// GeometryKnown is true when every session that can be shown has been
	// probed (or is absent), so Width and Height are final. Before that the
	// planner assumes a size per source kind; units must not be rendered
	// until the geometry is known, or they would not join by stream copy.
	GeometryKnown bool          `json:"geometry_known"`
	Sessions      []PlanSession `json:"sessions"`
	Units         []PlanUnit    `json:"units"`
	AudioTracks   []AudioTrack  `json:"audio_tracks"`
	Slides        []PlanSlide   `json:"slides"`
	Warnings      []string      `json:"warnings"`
}

// PlanSession is one media session (one recorded chunk) of the flow.
type PlanSession struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Kind string `json:"kind"` // SourceWebcam, SourceScreenshare or SourceAudio
	// Start and End of the session on the timeline (End is clipped to the
	// job duration and, once probed, to the media's real duration).
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Offset is the position in the media that plays at Start: non-zero
	// when the session started before the recording (negative
	// relativeTime, trimmed at 0).
	Offset     float64 `json:"offset,omitempty"`
	Stream     string  `json:"stream,omitempty"`
	Conference string  `json:"conference,omitempty"`
	User       string  `json:"user,omitempty"`
	Admin      bool    `json:"admin,omitempty"`
	HasAudio   bool    `json:"has_audio"`
	HasVideo   bool    `json:"has_video"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	// Absent is set when the media could not be fetched or decoded: the
	// session is not shown or heard (a warning says so).
	Absent bool `json:"absent,omitempty"`
	// Probed is set when the plan used the media's probe (real duration,
	// streams and size) rather than the flow alone.
	Probed bool `json:"probed,omitempty"`
}

// PlanUnit is one render unit: [Start, End) of the timeline.
type PlanUnit struct {
	Index   int          `json:"index"`
	Start   float64      `json:"start"`
	End     float64      `json:"end"`
	Windows []PlanWindow `json:"windows"`
	// Inputs are exactly the sessions the unit needs, with offsets into each.
	Inputs []PlanInput `json:"inputs"`
	// Slides are the ids (PlanSlide.ID) of the slide images the unit shows.
	Slides []string `json:"slides,omitempty"`
}

// PlanInput is the part of one session a unit reads: Offset seconds into the
// media plays at timeline time At, for Duration seconds.
type PlanInput struct {
	Session  string  `json:"session"`
	Offset   float64 `json:"offset"`
	At       float64 `json:"at"`
	Duration float64 `json:"duration"`
}

// PlanWindow is a span of the timeline with one layout (absolute times).
type PlanWindow struct {
	Start  float64  `json:"start"`
	End    float64  `json:"end"`
	Layout string   `json:"layout"`
	Main   string   `json:"main"`
	Pip    string   `json:"pip"`
	Column []string `json:"column"`
	// Grid is the grid's sources in row-major order (layout grid).
	Grid []string `json:"grid,omitempty"`
	// Sources is every session active in the window (shown or heard). The
	// planner lists the sessions with video here; audio-only sessions are
	// heard through AudioTracks at the final mix and never split windows.
	Sources []string `json:"sources"`
	// Audio is every session heard in the window's own audio (audio-only
	// sessions are not: they go to the final mix).
	Audio []string `json:"audio,omitempty"`
	// Slide is the URL of the slide showing ("" when none).
	Slide string `json:"slide"`
	// SlideID is the id (PlanSlide.ID) of that slide.
	SlideID string `json:"slide_id,omitempty"`
}

// AudioTrack is an audio-only session, mixed in once at finalize.
type AudioTrack struct {
	Session  string  `json:"session"`
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
	// Offset into the media where the track starts (non-zero when the
	// session started before 0 and was trimmed).
	Offset float64 `json:"offset,omitempty"`
}

// PlanSlide is one slide change: the slide URL shows on [Start, End).
type PlanSlide struct {
	// ID names the slide image: one id per distinct URL, so a slide shown
	// twice is one source (and one download).
	ID     string  `json:"id"`
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	URL    string  `json:"url"`
	Number int     `json:"number,omitempty"`
}

func (Plan) MessageType() string { return TypePlan }

// Validate checks the invariants every consumer of a plan relies on:
// geometry, units tiling [0, Duration] in order, windows tiling each unit.
func (p Plan) Validate() error {
	if err := checkType(p.Type, TypePlan); err != nil {
		return err
	}
	if err := finite("duration", p.Duration); err != nil {
		return err
	}
	if p.Duration <= 0 {
		return invalidf("plan duration is %g", p.Duration)
	}
	if p.Width < 16 || p.Height < 16 || p.Width%2 != 0 || p.Height%2 != 0 {
		return invalidf("geometry %dx%d must be even and at least 16x16", p.Width, p.Height)
	}
	if p.FPS < 1 || p.FPS > 120 {
		return invalidf("fps %d is outside 1..120", p.FPS)
	}
	const eps = 1e-6
	at := 0.0
	for i, u := range p.Units {
		if u.Index != i {
			return invalidf("unit %d has index %d", i, u.Index)
		}
		if math.Abs(u.Start-at) > eps || u.End <= u.Start {
			return invalidf("unit %d spans %g..%g, want a span starting at %g", i, u.Start, u.End, at)
		}
		wat := u.Start
		for j, w := range u.Windows {
			if math.Abs(w.Start-wat) > eps || w.End <= w.Start {
				return invalidf("unit %d window %d spans %g..%g, want a span starting at %g", i, j, w.Start, w.End, wat)
			}
			wat = w.End
		}
		if math.Abs(wat-u.End) > eps {
			return invalidf("unit %d windows end at %g, unit ends at %g", i, wat, u.End)
		}
		at = u.End
	}
	if math.Abs(at-p.Duration) > eps {
		return invalidf("units end at %g, plan is %g long", at, p.Duration)
	}
	return nil
}
