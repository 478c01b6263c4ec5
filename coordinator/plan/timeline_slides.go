package plan

import (
	"fmt"
	"math"
	"sort"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// slideSpan is one slide on screen: url on [start, end).
type slideSpan struct {
	start, end float64
	url        string
	number     int
	id         string
	ord        int // index of the distinct url (and of its id), in order of first appearance
}

// readSlides turns presentation events into the slides on screen, in time
// order (spec §2.4, §4.1 step 5, issue 4):
//
//   - a presentation.update with a slide url changes the slide at its
//     relativeTime (negative times count as 0); a slide shows until the next
//     slide, the end of the presentation or the end of the recording;
//   - a presentation.update with isActive false, or a presentation.delete,
//     ends the presentation: no slide shows until the next slide change;
//   - consecutive changes to the same url are one slide; events are taken
//     in time order (then log order), so two changes at the same instant
//     leave the later one on screen;
//   - Choice (as mtslinker): a slide whose image could not be fetched
//     (opts.AbsentSlides) is dropped with a warning, so the previous slide
//     stays on screen longer; with none before it, no slide shows.
//
// Ids are "slide_N", one per distinct url in order of first appearance
// (never an id a media session uses).
func readSlides(events []mts.Event, duration float64, opts *Options, taken map[string]bool, w *warnings) []slideSpan {
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].RelativeTime != events[j].RelativeTime {
			return events[i].RelativeTime < events[j].RelativeTime
		}
		return events[i].Index < events[j].Index
	})
	var out []slideSpan
	var cur *slideSpan
	warned := map[string]bool{}
	closeAt := func(t float64) {
		if cur == nil {
			return
		}
		cur.end = t
		if cur.end > cur.start {
			if n := len(out); n > 0 && out[n-1].url == cur.url && out[n-1].end == cur.start {
				out[n-1].end = cur.end
			} else {
				out = append(out, *cur)
			}
		}
		cur = nil
	}
	for _, e := range events {
		t := round6(math.Max(0, e.RelativeTime))
		if t >= duration {
			break
		}
		if e.Module == mts.ModulePresentationDelete {
			closeAt(t)
			continue
		}
		for _, p := range e.Presentations() {
			url := p.FileReference.Slide.URL
			switch {
			case p.Ends():
				closeAt(t)
			case url == "":
			case hasKey(opts.AbsentSlides, url):
				if !warned[url] {
					warned[url] = true
					reason := opts.AbsentSlides[url]
					if reason == "" {
						reason = "it could not be fetched"
					}
					w.add("slide %s is left out (%s); the slide before it stays on screen", url, reason)
				}
			case cur != nil && cur.url == url:
			default:
				closeAt(t)
				cur = &slideSpan{start: t, url: url, number: int(math.Max(0, math.Min(float64(p.FileReference.Slide.Number), 1e9)))}
			}
		}
	}
	closeAt(duration)
	ords := map[string]int{}
	var ids []string
	for i := range out {
		ord, ok := ords[out[i].url]
		if !ok {
			ord = len(ids)
			id := fmt.Sprintf("slide_%d", ord+1)
			for k := 1; taken[id]; k++ {
				id = fmt.Sprintf("slide_%d_%d", ord+1, k)
			}
			ords[out[i].url] = ord
			ids = append(ids, id)
		}
		out[i].ord, out[i].id = ord, ids[ord]
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
