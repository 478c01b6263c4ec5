package plan

import "github.com/mtsfarm/mtsfarm/proto"

// slideRef is a slide image as a window refers to it.
type slideRef struct {
	id, url string
}

// decideLayout picks a window's layout from the shown sessions active in it
// (in session order: by start, then log order) and the slide on screen, by
// the first issue 4 rule that applies:
//
//  1. a screenshare is active → presenter: main = the earliest screenshare,
//     pip = the earliest admin webcam, else the earliest webcam (other
//     screenshares are only heard);
//  2. a slide is on screen → slides: the slide on the left 3/4, the right
//     column stacks up to 4 webcams, admins first, then by start. Choice: a
//     slide with no webcam active (e.g. before any video starts, or after
//     the last one ends) is still the slides layout, with an empty column:
//     the player shows the slide whenever one is up;
//  3. no video source → gap (black);
//  4. one video source → single;
//  5. an admin webcam and others → presenter: main = the earliest admin,
//     pip = the earliest other source;
//  6. otherwise → grid of every source, by start, row-major.
//
// Every active session with audio is heard in the window (Audio), shown or
// not. Column is never nil (an empty list in JSON).
func decideLayout(active []*session, slide *slideRef) proto.PlanWindow {
	w := proto.PlanWindow{Column: []string{}, Sources: make([]string, 0, len(active))}
	var screens, webcams []*session
	var firstAdmin *session
	for _, s := range active {
		w.Sources = append(w.Sources, s.id)
		if s.hasAudio {
			w.Audio = append(w.Audio, s.id)
		}
		if s.screenshare {
			screens = append(screens, s)
			continue
		}
		webcams = append(webcams, s)
		if s.admin && firstAdmin == nil {
			firstAdmin = s
		}
	}
	switch {
	case len(screens) > 0:
		w.Layout, w.Main = proto.LayoutPresenter, screens[0].id
		switch {
		case firstAdmin != nil:
			w.Pip = firstAdmin.id
		case len(webcams) > 0:
			w.Pip = webcams[0].id
		}
	case slide != nil:
		w.Layout, w.Slide, w.SlideID = proto.LayoutSlides, slide.url, slide.id
		for _, admins := range []bool{true, false} {
			for _, s := range webcams {
				if s.admin == admins && len(w.Column) < proto.MaxColumn {
					w.Column = append(w.Column, s.id)
				}
			}
		}
	case len(active) == 0:
		w.Layout = proto.LayoutGap
	case len(active) == 1:
		w.Layout, w.Main = proto.LayoutSingle, active[0].id
	case firstAdmin != nil:
		w.Layout, w.Main = proto.LayoutPresenter, firstAdmin.id
		for _, s := range active {
			if s != firstAdmin {
				w.Pip = s.id
				break
			}
		}
	default:
		w.Layout = proto.LayoutGrid
		w.Grid = append([]string{}, w.Sources...)
	}
	return w
}
