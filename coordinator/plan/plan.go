package plan

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Errors of Plan. Each is wrapped with what was wrong, in words a user can
// act on.
var (
	// ErrNoDuration: the flow has no positive recording duration.
	ErrNoDuration = errors.New("the recording has no duration")
	// ErrNoMedia: nothing in the flow can be seen or heard.
	ErrNoMedia = errors.New("the recording has no usable media")
	// ErrBadOptions: a Options value is out of range.
	ErrBadOptions = errors.New("bad plan options")
)

// Limits of a plan.
const (
	// MaxPlanDuration is the longest recording planned (7 days).
	MaxPlanDuration = 7 * 24 * 3600
	// MaxUnits bounds the number of render units of one plan.
	MaxUnits = 20000
)

// Defaults of Options.
const (
	DefaultUnitSeconds     = 1800
	DefaultMaxHeight       = 720
	DefaultFPS             = 25
	DefaultMinSlidesWidth  = 1280
	DefaultMinSlidesHeight = 720
)

// Options are the knobs of a plan and what is known about the media.
// Zero values mean the defaults.
type Options struct {
	// UnitSeconds is the render unit length (default 1800, at least 1).
	UnitSeconds float64
	// MaxHeight caps the output height (default 720, 360..2160).
	MaxHeight int
	// FPS of the output (default 25).
	FPS int
	// MinSlidesWidth × MinSlidesHeight is the smallest output when the
	// recording shows slides (default 1280×720).
	MinSlidesWidth, MinSlidesHeight int
	// Probes are the probed media by session id: real durations, streams
	// and sizes. A session without a probe is planned from the flow alone.
	Probes map[string]proto.MediaInfo
	// Absent lists sessions (by id) whose media could not be fetched or
	// decoded, with the reason: not shown, not heard, a warning.
	Absent map[string]string
	// AbsentSlides lists slide URLs whose image could not be fetched, with
	// the reason: the slide before stays on screen, a warning.
	AbsentSlides map[string]string
	// Width × Height, when both are set, is the output size, decided
	// earlier: the plan uses it and its geometry is known. The coordinator
	// freezes the size of a job once one chunk of every shown stream is
	// probed, so units render while the other chunks still download.
	Width, Height int
}

// withDefaults fills in the defaults and checks the ranges.
func (o Options) withDefaults() (Options, error) {
	if o.UnitSeconds == 0 {
		o.UnitSeconds = DefaultUnitSeconds
	}
	if o.MaxHeight == 0 {
		o.MaxHeight = DefaultMaxHeight
	}
	if o.FPS == 0 {
		o.FPS = DefaultFPS
	}
	if o.MinSlidesWidth == 0 {
		o.MinSlidesWidth = DefaultMinSlidesWidth
	}
	if o.MinSlidesHeight == 0 {
		o.MinSlidesHeight = DefaultMinSlidesHeight
	}
	switch {
	case math.IsNaN(o.UnitSeconds) || math.IsInf(o.UnitSeconds, 0) || o.UnitSeconds < 1:
		return o, fmt.Errorf("%w: unit seconds %g: give at least 1 (default %d)", ErrBadOptions, o.UnitSeconds, DefaultUnitSeconds)
	case o.MaxHeight < 360 || o.MaxHeight > 2160:
		return o, fmt.Errorf("%w: max height %d is outside 360..2160", ErrBadOptions, o.MaxHeight)
	case o.FPS < 1 || o.FPS > 120:
		return o, fmt.Errorf("%w: fps %d is outside 1..120", ErrBadOptions, o.FPS)
	case o.MinSlidesWidth < 16 || o.MinSlidesHeight < 16 || o.MinSlidesWidth > 7680 || o.MinSlidesHeight > 4320:
		return o, fmt.Errorf("%w: slides minimum %dx%d is outside 16x16..7680x4320", ErrBadOptions, o.MinSlidesWidth, o.MinSlidesHeight)
	case (o.Width != 0 || o.Height != 0) && (o.Width < 16 || o.Height < 16 || o.Width > 7680 || o.Height > 4320 || o.Width%2 != 0 || o.Height%2 != 0):
		return o, fmt.Errorf("%w: fixed geometry %dx%d must be even and inside 16x16..7680x4320", ErrBadOptions, o.Width, o.Height)
	}
	return o, nil
}

// Plan decides what the viewer sees and hears at every instant of the
// recording and cuts it into render units. It is pure: no I/O, and the same
// flow and options always give the same plan.
//
// The rules are issue 4's (spec §2.4, §4, §5); each choice the rules leave
// open is written where it is made (timeline_*.go, layout*.go,
// plan_units.go). A flow that cannot be planned (nil, no duration, nothing
// to see or hear) is an error wrapping mts.ErrBadFlow, ErrNoDuration or
// ErrNoMedia; bad options wrap ErrBadOptions.
func Plan(flow *mts.Flow, opts Options) (*proto.Plan, error) {
	if flow == nil {
		return nil, fmt.Errorf("planning: %w: no flow", mts.ErrBadFlow)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("planning %q: %w", flow.Name, err)
	}
	duration := round6(flow.Duration)
	if err := checkDuration(flow, duration, o); err != nil {
		return nil, err
	}

	w := &warnings{}
	log := readLog(flow)
	all := buildSessions(flow, log, w)
	if len(all) == 0 {
		return nil, fmt.Errorf("planning %q: %w: the flow has no mediasession.add with an id and a url, and no other event with a media url, so there is nothing to render",
			flow.Name, ErrNoMedia)
	}
	var sessions, shown []*session
	usable := 0
	for _, s := range all {
		if !place(s, duration, &o, w) {
			continue
		}
		sessions = append(sessions, s)
		if s.absent == "" {
			usable++
		}
	}
	if usable == 0 {
		why := w.result()
		if len(why) > 3 {
			why = append(why[:3], "…")
		}
		return nil, fmt.Errorf("planning %q: %w: none of the %d media sessions can be seen or heard inside the recording: %s",
			flow.Name, ErrNoMedia, len(all), strings.Join(why, "; "))
	}
	sort.SliceStable(sessions, func(i, j int) bool { return sessions[i].less(sessions[j]) })
	taken := map[string]bool{}
	for i, s := range sessions {
		s.rank = i
		taken[s.id] = true
		if s.shown() {
			shown = append(shown, s)
		}
	}

	slides := readSlides(log.presentation, duration, &o, taken, w)
	var refs []slideRef
	for _, sl := range slides {
		if sl.ord == len(refs) {
			refs = append(refs, slideRef{id: sl.id, url: sl.url})
		}
	}
	units := cutUnits(buildSpans(shown, slides, duration), shown, refs, duration, o.UnitSeconds)
	width, height, known := geometry(shown, displayed(units), len(slides) > 0, &o)
	if o.Width > 0 && o.Height > 0 {
		width, height, known = o.Width, o.Height, true
	}

	p := &proto.Plan{
		Type: proto.TypePlan, Title: flow.Name, Duration: duration, Width: width, Height: height, FPS: o.FPS,
		UnitSeconds: o.UnitSeconds, GeometryKnown: known,
		Sessions:    make([]proto.PlanSession, 0, len(sessions)),
		Units:       units,
		AudioTracks: []proto.AudioTrack{},
		Slides:      make([]proto.PlanSlide, 0, len(slides)),
	}
	for _, s := range sessions {
		p.Sessions = append(p.Sessions, proto.PlanSession{ID: s.id, URL: s.url, Kind: s.kind, Start: s.start, End: s.end,
			Offset: s.offset, Stream: s.stream, Conference: s.conference, User: s.user, Admin: s.admin,
			HasAudio: s.hasAudio, HasVideo: s.hasVideo, Width: s.width, Height: s.height, Absent: s.absent != "", Probed: s.probed})
		// Audio-only sessions are heard once, in the final mix.
		if s.absent == "" && !s.hasVideo && s.hasAudio {
			p.AudioTracks = append(p.AudioTracks, proto.AudioTrack{Session: s.id, Start: s.start,
				Duration: round6(s.end - s.start), Offset: s.offset})
		}
	}
	for _, sl := range slides {
		p.Slides = append(p.Slides, proto.PlanSlide{ID: sl.id, Start: sl.start, End: sl.end, URL: sl.url, Number: sl.number})
	}
	p.Warnings = w.result()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("planning %q: the plan is inconsistent (a planner bug, please report it with the flow): %w", flow.Name, err)
	}
	return p, nil
}

// checkDuration refuses a recording without a positive duration, one over
// the 7-day limit, or one that makes too many units.
func checkDuration(flow *mts.Flow, duration float64, o Options) error {
	switch {
	case math.IsNaN(duration) || duration <= 0:
		return fmt.Errorf("planning %q: %w: the flow's duration is %g; a recording needs a positive duration (is the recording still processing?)",
			flow.Name, ErrNoDuration, flow.Duration)
	case duration > MaxPlanDuration:
		return fmt.Errorf("planning %q: %w: the duration %g s is over the %d s (7 day) limit", flow.Name, mts.ErrBadFlow, duration, MaxPlanDuration)
	case duration/o.UnitSeconds > MaxUnits:
		return fmt.Errorf("planning %q: %w: %g s in units of %g s makes more than %d units; give a longer unit", flow.Name, ErrBadOptions,
			duration, o.UnitSeconds, MaxUnits)
	}
	return nil
}

// displayed lists the sessions some window of the units shows.
func displayed(units []proto.PlanUnit) map[string]bool {
	out := map[string]bool{}
	for _, u := range units {
		for _, w := range u.Windows {
			for _, id := range append(append([]string{w.Main, w.Pip}, w.Column...), w.Grid...) {
				out[id] = true
			}
		}
	}
	return out
}
