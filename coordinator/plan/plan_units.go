package plan

import (
	"math"
	"slices"

	"github.com/mtsfarm/mtsfarm/proto"
)

// cutUnits cuts the windows at every multiple of unitSeconds into render
// units (a window crossing a boundary is split) and lists each unit's inputs.
//
// A window may reach up to MinWindow past a session's end (an absorbed
// piece). When a cut leaves a piece in which a session the window uses does
// not play at all, the piece's layout is decided again from the sessions
// that do play in it, so every id a unit's window names has an input in that
// unit. A piece shorter than MinWindow left by a cut is absorbed into its
// neighbour in the unit like any short piece, so renderers never get a
// window shorter than MinWindow unless the unit itself is.
func cutUnits(spans []span, shown []*session, slides []slideRef, duration, unitSeconds float64) []proto.PlanUnit {
	n := int(math.Ceil(duration/unitSeconds - eps))
	n = max(n, 1)
	units := make([]proto.PlanUnit, 0, n)
	k := 0 // first span that may overlap the unit
	for i := range n {
		u := proto.PlanUnit{Index: i, Start: round6(float64(i) * unitSeconds), End: round6(float64(i+1) * unitSeconds),
			Windows: []proto.PlanWindow{}, Inputs: []proto.PlanInput{}}
		if i == n-1 || u.End > duration {
			u.End = duration
		}
		for k < len(spans) && spans[k].end <= u.Start+eps {
			k++
		}
		for j := k; j < len(spans) && spans[j].start < u.End-eps; j++ {
			sp := spans[j]
			start, end := math.Max(sp.start, u.Start), math.Min(sp.end, u.End)
			active := make([]*session, len(sp.active))
			ok := true
			for a, idx := range sp.active {
				active[a] = shown[idx]
				if overlap(shown[idx], start, end) <= eps {
					ok = false
				}
			}
			if !ok {
				active = active[:0]
				for _, s := range shown {
					if overlap(s, start, end) > eps {
						active = append(active, s)
					}
				}
			}
			var ref *slideRef
			if sp.slide >= 0 {
				ref = &slides[sp.slide]
			}
			w := decideLayout(active, ref)
			w.Start, w.End = start, end
			u.Windows = append(u.Windows, w)
		}
		u.Windows = absorbWindows(u.Windows)
		u.Inputs, u.Slides = unitInputs(u.Windows, shown)
		units = append(units, u)
	}
	return units
}

// overlap is how long session s plays within [start, end).
func overlap(s *session, start, end float64) float64 {
	return math.Min(end, s.end) - math.Max(start, s.start)
}

func sameWindow(a, b proto.PlanWindow) bool {
	return a.SlideID == b.SlideID && slices.Equal(a.Sources, b.Sources)
}

// absorbWindows folds windows shorter than MinWindow into the one before
// (the first into the one after) and merges neighbours that show the same
// sessions and slide.
func absorbWindows(in []proto.PlanWindow) []proto.PlanWindow {
	return absorb(in, func(w *proto.PlanWindow) (*float64, *float64) { return &w.Start, &w.End }, sameWindow)
}

// used lists the ids a window shows or plays.
func used(w proto.PlanWindow) []string {
	ids := make([]string, 0, 4+len(w.Column)+len(w.Grid)+len(w.Audio))
	if w.Main != "" {
		ids = append(ids, w.Main)
	}
	if w.Pip != "" {
		ids = append(ids, w.Pip)
	}
	ids = append(ids, w.Column...)
	ids = append(ids, w.Grid...)
	return append(ids, w.Audio...)
}

// unitInputs lists exactly the sessions a unit's windows show or play, in
// session order, each with the one continuous range the unit reads: from
// its first use to its last, clipped to where the session plays. Offset is
// the media position at At (≥ 0, inside the media: the session's own offset
// plus the time since its start). Active sessions a window neither shows
// nor plays (a fifth webcam beside a slide, a silent second screenshare)
// are not inputs.
func unitInputs(windows []proto.PlanWindow, shown []*session) ([]proto.PlanInput, []string) {
	byID := make(map[string]*session, len(shown))
	for _, s := range shown {
		byID[s.id] = s
	}
	type rng struct{ at, end float64 }
	ranges := map[*session]*rng{}
	var slideIDs []string
	for _, w := range windows {
		if w.SlideID != "" && !slices.Contains(slideIDs, w.SlideID) {
			slideIDs = append(slideIDs, w.SlideID)
		}
		for _, id := range used(w) {
			s := byID[id]
			at, end := math.Max(w.Start, s.start), math.Min(w.End, s.end)
			if end-at <= eps {
				continue
			}
			if r := ranges[s]; r != nil {
				r.at, r.end = math.Min(r.at, at), math.Max(r.end, end)
			} else {
				ranges[s] = &rng{at, end}
			}
		}
	}
	inputs := make([]proto.PlanInput, 0, len(ranges))
	for _, s := range shown { // session order
		r := ranges[s]
		if r == nil {
			continue
		}
		inputs = append(inputs, proto.PlanInput{Session: s.id, Offset: round6(s.offset + r.at - s.start),
			At: r.at, Duration: round6(r.end - r.at)})
	}
	return inputs, slideIDs
}
