package mtstest

import (
	"encoding/json"
	"math"
	"sort"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// logEntry is one eventLogs entry being built; prio orders entries with the
// same relativeTime the way the real log does (users join, conferences open,
// a chunk ends before the next begins).
type logEntry struct {
	Module       string  `json:"module"`
	RelativeTime float64 `json:"relativeTime"`
	Data         any     `json:"data,omitempty"`
	Snapshot     any     `json:"snapshot,omitempty"`
	prio         int
	seq          int
	// before is the seq of an entry this one must precede in the array
	// (update_before_add); -1 for none.
	before int
}

type obj = map[string]any

const (
	prioStart = iota
	prioUserlist
	prioConfAdd
	prioConfUpdate
	prioSessionUpdate
	prioSessionAdd
	prioPresentation
	prioStreamDelete
)

// flowDoc builds the webinar's flow: the full one (withoutCuts=true) or the
// edited view with cut regions removed.
func (l *layout) flowDoc(withoutCuts bool) []byte {
	w := l.w
	var entries []*logEntry
	add := func(module string, t float64, prio int, data any) *logEntry {
		e := &logEntry{Module: module, RelativeTime: round3(t), Data: data, prio: prio, seq: len(entries), before: -1}
		entries = append(entries, e)
		return e
	}
	nick := map[mts.ID]string{}
	for _, p := range w.Participants {
		nick[p.ID] = p.Name
	}
	user := func(id mts.ID) obj { return obj{"id": idValue(id), "nickname": nick[id]} }

	// Users join one second before their first stream; the rest are there
	// from the start, listed in one userlist.add (data as a list), the late
	// ones each in their own (data as an object).
	var atStart []any
	var snapshot []any
	for _, p := range w.Participants {
		join := math.Inf(1)
		for _, s := range w.Streams {
			if s.Participant == p.ID {
				join = math.Min(join, s.Start-1)
			}
		}
		entry := obj{"role": p.Role, "user": user(p.ID)}
		if join <= 0 || math.IsInf(join, 1) {
			atStart = append(atStart, entry)
			snapshot = append(snapshot, entry)
			continue
		}
		add("userlist.add", join, prioUserlist, entry)
	}
	add("eventsession.start", 0, prioStart, nil).Snapshot = obj{"data": obj{"userlist": nonNil(snapshot)}}
	if len(atStart) > 0 {
		add("userlist.add", 0, prioUserlist, atStart)
	}

	// One conference per participant with a webcam or audio stream, opened
	// just before its first stream, with the flags of its streams.
	for pi, p := range w.Participants {
		conf, ok := l.confID[p.ID]
		if !ok {
			continue
		}
		first, video := math.Inf(1), false
		for _, s := range w.Streams {
			if s.Participant == p.ID && s.Kind != KindScreenshare {
				first = math.Min(first, s.Start)
				video = video || s.Kind == KindWebcam
			}
		}
		at := first - 0.4
		if first >= 0 {
			at = math.Max(at, 0) // not before the recording unless the stream is
		}
		add(mts.ModuleConferenceAdd, at, prioConfAdd, obj{
			"id": idValue(mts.ID(conf)), "participationId": 9001 + pi,
			"hasAudio": true, "hasVideo": video, "user": user(p.ID),
		})
		for _, u := range p.ConferenceUpdates {
			d := obj{"id": idValue(mts.ID(conf))}
			if u.HasAudio != nil {
				d["hasAudio"] = *u.HasAudio
			}
			if u.HasVideo != nil {
				d["hasVideo"] = *u.HasVideo
			}
			add(mts.ModuleConferenceUpdate, u.At, prioConfUpdate, d)
		}
	}

	for _, c := range l.chunks {
		s := &w.Streams[c.Stream]
		stream := obj{"id": idValue(mts.ID(c.StreamID))}
		if c.ScreenshareID != "" {
			stream["screensharing"] = obj{"id": idValue(mts.ID(c.ScreenshareID))}
		} else {
			stream["conference"] = obj{"id": idValue(mts.ID(c.ConferenceID))}
		}
		if s.Fallback {
			// An unknown module whose data has a url: mtslinker's fallback
			// session (spec §2.4), no id and no duration.
			add("conference.record.add", c.Start, prioSessionAdd, obj{"url": c.URL, "stream": stream})
		} else {
			a := add(mts.ModuleMediaSessionAdd, c.Start, prioSessionAdd, obj{
				"id": c.SessionID, "url": c.URL, "time": round3(l.epoch + c.Start), "stream": stream,
			})
			if !s.NoUpdate {
				u := add(mts.ModuleMediaSessionUpdate, c.Start+c.Duration, prioSessionUpdate, obj{
					"id": c.SessionID, "duration": c.Duration,
				})
				if s.UpdateBeforeAdd && c.Index == 0 {
					u.before = a.seq
				}
			}
		}
		if c.Index == s.chunkCount()-1 {
			module := "conference.stream.delete"
			if s.Kind == KindScreenshare {
				module = "screensharing.stream.delete"
			}
			add(module, c.Start+c.Duration, prioStreamDelete, obj{"id": idValue(mts.ID(c.StreamID))})
		}
	}

	var slideList []any
	seen := map[string]bool{}
	for _, s := range l.slides {
		if !s.End && !seen[s.URL] {
			seen[s.URL] = true
			slideList = append(slideList, obj{"url": s.URL})
		}
	}
	for _, s := range l.slides {
		if s.End {
			add(mts.ModulePresentationUpdate, s.At, prioPresentation, obj{"isActive": false})
			continue
		}
		add(mts.ModulePresentationUpdate, s.At, prioPresentation, obj{
			"isActive": true, "slideIndex": s.Number - 1,
			"fileReference": obj{
				"file":  obj{"id": 8001, "slides": slideList},
				"slide": obj{"url": s.URL, "number": s.Number},
			},
		})
	}

	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.RelativeTime != b.RelativeTime {
			return a.RelativeTime < b.RelativeTime
		}
		if a.prio != b.prio {
			return a.prio < b.prio
		}
		return a.seq < b.seq
	})
	entries = moveBefore(entries)

	duration := w.Duration
	cuts := []any{}
	if len(w.Cuts) > 0 && !withoutCuts {
		entries, duration = applyCuts(entries, w.Cuts, duration)
	}
	for _, c := range w.Cuts {
		cuts = append(cuts, obj{"start": round3(l.epoch + c.Start), "end": round3(l.epoch + c.End)})
	}
	logs := make([]any, len(entries))
	for i, e := range entries {
		logs[i] = e
	}
	doc := obj{
		"id":               idValue(w.EventSessionID),
		"name":             w.Name,
		"duration":         round3(duration),
		"cuts":             cuts,
		"convertedRecords": []any{},
		"eventLogs":        logs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("mtstest: marshaling a flow: " + err.Error()) // only plain values above
	}
	return b
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// idValue writes numeric ids as JSON numbers (as the real API does) and
// anything else as a string.
func idValue(id mts.ID) any {
	if digits.MatchString(id.String()) && len(id) < 16 {
		return json.Number(id)
	}
	return id.String()
}

// moveBefore moves each entry with a before mark right in front of that
// entry in the array, keeping its relativeTime.
func moveBefore(entries []*logEntry) []*logEntry {
	var moved []*logEntry
	rest := entries[:0:0]
	for _, e := range entries {
		if e.before >= 0 {
			moved = append(moved, e)
		} else {
			rest = append(rest, e)
		}
	}
	if len(moved) == 0 {
		return entries
	}
	out := make([]*logEntry, 0, len(entries))
	for _, e := range rest {
		for _, m := range moved {
			if m.before == e.seq {
				out = append(out, m)
			}
		}
		out = append(out, e)
	}
	return out
}

// applyCuts gives the edited view: entries inside a cut are dropped, later
// ones move earlier by the cut lengths before them, and the duration
// shrinks by the total cut length.
func applyCuts(entries []*logEntry, cuts []Span, duration float64) ([]*logEntry, float64) {
	var out []*logEntry
	for _, e := range entries {
		shift, inside := 0.0, false
		for _, c := range cuts {
			switch {
			case e.RelativeTime >= c.End:
				shift += c.End - c.Start
			case e.RelativeTime >= c.Start:
				inside = true
			}
		}
		if inside {
			continue
		}
		cp := *e
		cp.RelativeTime = round3(e.RelativeTime - shift)
		out = append(out, &cp)
	}
	for _, c := range cuts {
		duration -= c.End - c.Start
	}
	return out, duration
}
