package plan

import (
	"slices"
	"sort"
)

// MinWindow is the shortest window the planner makes: a piece of the
// timeline shorter than this (0.1 s, spec §4.1) is absorbed into the window
// before it (the first window absorbs into the one after it).
const MinWindow = 0.1

// eps is the tolerance for comparing times that were rounded to the
// microsecond.
const eps = 1e-9

// span is a window before layout: [start, end) with the shown sessions
// active in it (indexes into the shown slice, in session order) and the
// slide on screen (its slideSpan.ord: one per distinct url; -1 for none).
type span struct {
	start, end float64
	active     []int
	slide      int
}

func (a span) sameKey(b span) bool {
	return a.slide == b.slide && slices.Equal(a.active, b.active)
}

// buildSpans splits [0, duration] at every session start and end and every
// slide change, merges neighbours with the same active set and the same
// slide on screen, and absorbs pieces shorter than MinWindow. The spans tile
// [0, duration] with no gap or overlap.
//
// A session is active on [start, end). The slide "on screen" is the
// presentation's slide unless a screenshare is active (rule 1 shows the
// screenshare then), so slide changes under a screenshare do not split it.
func buildSpans(shown []*session, slides []slideSpan, duration float64) []span {
	type point struct {
		t     float64
		i     int
		start bool
	}
	pts := make([]point, 0, 2*len(shown))
	bounds := make([]float64, 0, 2*len(shown)+2*len(slides)+2)
	bounds = append(bounds, 0, duration)
	for i, s := range shown {
		pts = append(pts, point{s.start, i, true}, point{s.end, i, false})
		bounds = append(bounds, s.start, s.end)
	}
	for _, sl := range slides {
		bounds = append(bounds, sl.start, sl.end)
	}
	sort.Float64s(bounds)
	bounds = slices.Compact(bounds)
	for len(bounds) > 0 && bounds[len(bounds)-1] > duration {
		bounds = bounds[:len(bounds)-1]
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].t < pts[b].t })

	var out []span
	var active []int
	screens := 0 // active screenshares
	p, si := 0, 0
	for k := 0; k+1 < len(bounds); k++ {
		t0, t1 := bounds[k], bounds[k+1]
		for ; p < len(pts) && pts[p].t <= t0; p++ {
			i := pts[p].i
			pos, found := slices.BinarySearch(active, i)
			if pts[p].start && !found {
				active = slices.Insert(active, pos, i)
				if shown[i].screenshare {
					screens++
				}
			} else if !pts[p].start && found {
				active = slices.Delete(active, pos, pos+1)
				if shown[i].screenshare {
					screens--
				}
			}
		}
		for si < len(slides) && slides[si].end <= t0 {
			si++
		}
		slide := -1
		if screens == 0 && si < len(slides) && slides[si].start <= t0 {
			slide = slides[si].ord
		}
		cur := span{start: t0, end: t1, active: active, slide: slide}
		if n := len(out); n > 0 && out[n-1].sameKey(cur) {
			out[n-1].end = t1
			continue
		}
		cur.active = slices.Clone(active)
		out = append(out, cur)
	}
	return absorbShort(out)
}

// absorbShort folds spans shorter than MinWindow into the span before them
// (the first into the one after it), then merges neighbours that now have
// the same key. A window's sessions are active over at least the part of it
// that was not absorbed.
func absorbShort(in []span) []span {
	return absorb(in, func(s *span) (*float64, *float64) { return &s.start, &s.end }, span.sameKey)
}

// absorb is the rule of absorbShort and absorbWindows, on any interval type:
// an interval shorter than MinWindow joins the one before it (the first joins
// the one after), then neighbours that same calls equal merge. bounds gives
// an interval's start and end to read and move.
func absorb[T any](in []T, bounds func(*T) (start, end *float64), same func(a, b T) bool) []T {
	short := func(t *T) bool { s, e := bounds(t); return *e-*s < MinWindow-eps }
	var out []T
	for _, t := range in {
		if n := len(out); n > 0 && short(&t) {
			_, end := bounds(&out[n-1])
			_, e := bounds(&t)
			*end = *e
			continue
		}
		out = append(out, t)
	}
	if len(out) > 1 && short(&out[0]) {
		start, _ := bounds(&out[1])
		s, _ := bounds(&out[0])
		*start = *s
		out = out[1:]
	}
	merged := out[:0]
	for _, t := range out {
		if n := len(merged); n > 0 && same(merged[n-1], t) {
			_, end := bounds(&merged[n-1])
			_, e := bounds(&t)
			*end = *e
			continue
		}
		merged = append(merged, t)
	}
	return merged
}
