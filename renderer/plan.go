package renderer

import (
	"fmt"
	"math"
	"slices"

	"github.com/mtsfarm/mtsfarm/proto"
)

// unitPlan is what the argv and graph builders need from a unit: the frame
// and sample counts, each window's frame range and rectangles, and every
// ffmpeg input with the streams it contributes.
type unitPlan struct {
	frames  int   // video frames of the unit
	samples int64 // audio samples of the unit
	windows []segment
	inputs  []*input
}

// segment is one window in frames: [start, end) of the unit's frames.
type segment struct {
	index      int
	start, end int
	draws      []draw
}

// draw is one rectangle of a window that a source fills.
type draw struct {
	rect   proto.Rect
	in     *input
	branch int  // which output of the input's split feeds this draw
	box    bool // paint the rectangle with its pad colour first (it covers something)
}

// input is one ffmpeg input: a source range, opened once.
type input struct {
	src      proto.UnitSource
	url      string
	index    int // ffmpeg input index
	branches int // video branches (draws) fed by this input
	// fit is set when the input is scaled once, before the split, to the
	// one rectangle size of all its draws (see planScale).
	fit   *proto.Rect
	shown int // frames the input is drawn in
	heard []span
	gate  bool // heard only in part of its range: silence the rest
}

// span is a time range of the unit, seconds.
type span struct{ start, end float64 }

// planUnit validates the unit and lays it out. urls maps source ids to where
// ffmpeg reads them; a source without a URL is absent (not shown, not heard).
func planUnit(u proto.RenderUnit, urls map[string]string) (*unitPlan, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	dur := u.Duration()
	p := &unitPlan{
		frames:  int(math.Round(dur * float64(u.FPS))),
		samples: int64(math.Round(dur * float64(u.Encoding.AudioRate))),
	}
	if p.frames < 1 {
		return nil, fmt.Errorf("%w: unit %d is %gs long, shorter than one frame at %d fps", proto.ErrInvalid, u.Index, dur, u.FPS)
	}
	byID := map[string]*input{}
	for _, s := range u.Sources {
		url, ok := urls[s.ID]
		if !ok || url == "" || (s.Kind != proto.SourceSlide && s.Duration <= 0) {
			continue
		}
		byID[s.ID] = &input{src: s, url: url}
	}
	shown := func(id string) *input {
		in := byID[id]
		if in == nil || (in.src.Kind != proto.SourceSlide && !in.src.HasVideo) {
			return nil
		}
		return in
	}
	for i, w := range u.Windows {
		for _, id := range w.Audio {
			if in := byID[id]; in != nil && in.src.HasAudio && in.src.Kind != proto.SourceSlide {
				in.heard = addSpan(in.heard, span{w.Start, w.End})
			}
		}
		seg := segment{index: i, start: frameAt(w.Start, u.FPS), end: frameAt(w.End, u.FPS)}
		if i == len(u.Windows)-1 {
			seg.end = p.frames
		}
		if seg.end <= seg.start {
			continue // shorter than half a frame: its neighbours cover it
		}
		var drawn []proto.Rect
		for _, r := range w.Rects(u.Width, u.Height) {
			in := shown(r.ID)
			if in == nil {
				continue
			}
			d := draw{rect: r, in: in, branch: in.branches}
			// A slide is padded by its own chain; a webcam's pad is the black
			// canvas unless the rectangle lies over an earlier one (the PIP
			// over the main) or wants another colour.
			if in.src.Kind != proto.SourceSlide {
				d.box = r.Pad != proto.PadBlack || overlapsAny(r, drawn)
			}
			in.branches++
			in.shown += seg.end - seg.start
			seg.draws = append(seg.draws, d)
			drawn = append(drawn, r)
		}
		p.windows = append(p.windows, seg)
	}
	for _, s := range u.Sources {
		in := byID[s.ID]
		if in == nil || (in.branches == 0 && len(in.heard) == 0) {
			continue
		}
		in.index = len(p.inputs)
		planScale(in, p.windows, u.FPS)
		in.gate = len(in.heard) > 0 && !covers(in.heard, span{in.src.At, min(in.src.At+in.src.Duration, dur)})
		p.inputs = append(p.inputs, in)
	}
	return p, nil
}

// frameAt is the unit frame at time t (nearest).
func frameAt(t float64, fps int) int { return int(math.Round(t * float64(fps))) }

func overlapsAny(r proto.Rect, rs []proto.Rect) bool {
	return slices.ContainsFunc(rs, func(o proto.Rect) bool {
		return r.X < o.X+o.W && o.X < r.X+r.W && r.Y < o.Y+o.H && o.Y < r.Y+r.H
	})
}

// addSpan appends s to sorted, non-overlapping spans, merging it with the
// last one when they touch (windows come in time order).
func addSpan(spans []span, s span) []span {
	const eps = 1e-6
	if n := len(spans); n > 0 && s.start <= spans[n-1].end+eps {
		spans[n-1].end = max(spans[n-1].end, s.end)
		return spans
	}
	return append(spans, s)
}

// covers reports whether the spans cover all of s.
func covers(spans []span, s span) bool {
	const eps = 1e-6
	at := s.start
	for _, x := range spans {
		if x.start > at+eps {
			break
		}
		at = max(at, x.end)
	}
	return at >= s.end-eps
}

// planScale decides where an input is scaled. Scaling once, before the
// frame-rate conversion, works on the source's own frames only: a 10 fps
// screenshare is scaled 10 times a second, not 25, and every window shares
// the work. It is used when all draws of the input have one size and the
// input is drawn during most of its range (else frames nobody sees would be
// scaled). Otherwise each draw scales its own window's frames.
func planScale(in *input, windows []segment, fps int) {
	if in.branches == 0 || in.src.Kind == proto.SourceSlide {
		return
	}
	var fit *proto.Rect
	for _, seg := range windows {
		for _, d := range seg.draws {
			if d.in != in {
				continue
			}
			if fit != nil && (fit.W != d.rect.W || fit.H != d.rect.H) {
				return
			}
			r := d.rect
			fit = &r
		}
	}
	if rng := int(math.Round(in.src.Duration * float64(fps))); in.shown*2 >= rng {
		in.fit = fit
	}
}
