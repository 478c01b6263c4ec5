package plan

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Media sessions from the flow (spec §2.4, issue 4 rules). This file reads
// the event log; placing sessions on the timeline is in timeline_place.go.

// session is one media session (one recorded file) on its way into the plan.
type session struct {
	id  string
	url string
	// seq is the creation order: mediasession.add entries in log order,
	// then the fallback url events in log order.
	seq         int
	rawStart    float64 // relativeTime of the add (may be negative)
	apiDuration float64 // from mediasession.update; 0 when none
	stream      string
	conference  string
	user        string
	admin       bool
	screenshare bool
	// Conference flags as of the session's start.
	confAudio, confVideo bool

	// Set by place (timeline_place.go).
	kind               string
	hasAudio, hasVideo bool
	width, height      int
	probed             bool
	absent             string  // why the media is not usable; "" when it is
	start, end, offset float64 // on the timeline; offset into the media at start
	rank               int     // position in session order (start, then seq)
}

// less orders sessions "by start": the earlier relativeTime first, then the
// earlier in the log (mediasession.add before fallbacks).
func (s *session) less(o *session) bool {
	if s.rawStart != o.rawStart {
		return s.rawStart < o.rawStart
	}
	return s.seq < o.seq
}

// confEvent is one conference.add or conference.update.
type confEvent struct {
	time     float64
	index    int
	add      bool
	hasAudio mts.Bool
	hasVideo mts.Bool
}

// flowLog is what the planner reads from the event log in one pass.
type flowLog struct {
	adminUsers   map[string]bool
	confUser     map[string]string
	confEvents   map[string][]confEvent
	adds         []addEntry
	updates      map[string]update
	presentation []mts.Event
	urlEvents    []int // indexes into Flow.Events of non-add events that may carry a url
}

type addEntry struct {
	time  float64
	index int
	ms    mts.MediaSession
}

type update struct {
	time     float64
	index    int
	duration float64
}

// later reports whether u happened after o (chronologically, then in log
// order): the latest update of a session wins.
func (u update) later(o update) bool {
	if u.time != o.time {
		return u.time > o.time
	}
	return u.index > o.index
}

// readLog makes one pass over the events, decoding only the modules the
// planner reads. Events of other modules are decoded only when their data
// contains a "url" key (fallback media, spec §2.4): chat and the like cost a
// byte scan, which keeps a 20,000-event flow fast.
func readLog(flow *mts.Flow) *flowLog {
	l := &flowLog{
		adminUsers: map[string]bool{},
		confUser:   map[string]string{},
		confEvents: map[string][]confEvent{},
		updates:    map[string]update{},
	}
	for i := range flow.Events {
		e := &flow.Events[i]
		switch {
		case e.Module == mts.ModuleMediaSessionAdd:
			for _, ms := range e.MediaSessions() {
				l.adds = append(l.adds, addEntry{time: e.RelativeTime, index: e.Index, ms: ms})
			}
			continue
		case e.Module == mts.ModuleMediaSessionUpdate:
			for _, ms := range e.MediaSessions() {
				if !ms.ID.Valid() || ms.Duration == nil || float64(*ms.Duration) <= 0 {
					continue // a missing or non-positive duration says nothing
				}
				u := update{time: e.RelativeTime, index: e.Index, duration: float64(*ms.Duration)}
				if old, ok := l.updates[ms.ID.String()]; !ok || u.later(old) {
					l.updates[ms.ID.String()] = u
				}
			}
		case e.Module == mts.ModuleConferenceAdd || e.Module == mts.ModuleConferenceUpdate:
			add := e.Module == mts.ModuleConferenceAdd
			for _, c := range e.Conferences() {
				if !c.ID.Valid() {
					continue
				}
				id := c.ID.String()
				if add && c.User.ID.Valid() {
					if _, ok := l.confUser[id]; !ok {
						l.confUser[id] = c.User.ID.String()
					}
				}
				l.confEvents[id] = append(l.confEvents[id], confEvent{time: e.RelativeTime, index: e.Index,
					add: add, hasAudio: c.HasAudio, hasVideo: c.HasVideo})
			}
		case mts.IsUserlist(e.Module):
			for _, u := range e.UserlistEntries() {
				if u.IsAdmin() && u.User.ID.Valid() {
					l.adminUsers[u.User.ID.String()] = true
				}
			}
		case e.Module == mts.ModulePresentationUpdate || e.Module == mts.ModulePresentationDelete:
			l.presentation = append(l.presentation, *e)
		}
		if e.Module == "eventsession.start" && len(e.Snapshot) > 0 {
			for _, u := range e.SnapshotUserlist() {
				if u.IsAdmin() && u.User.ID.Valid() {
					l.adminUsers[u.User.ID.String()] = true
				}
			}
		}
		if bytes.Contains(e.Data, []byte(`"url"`)) {
			l.urlEvents = append(l.urlEvents, i)
		}
	}
	return l
}

// flagsAt returns a conference's hasAudio/hasVideo as of time t: every
// conference.add/update at or before t applies in time order (an add sets
// both flags, missing ones defaulting to true; an update sets those it
// carries). Leenday's chronological rule: a participant muted just before
// leaving is not silent for the whole file.
//
// Choice: when the conference has no event at or before t (the add was
// logged a moment after the media session), its first event's flags apply,
// not the defaults: the conference's own flags describe the session better
// than "true". A conference never seen gives true, true (spec §4.1).
func flagsAt(events []confEvent, t float64) (audio, video bool) {
	audio, video = true, true
	if len(events) == 0 {
		return
	}
	n := sort.Search(len(events), func(i int) bool { return events[i].time > t })
	if n == 0 {
		n = 1
	}
	for _, ev := range events[:n] {
		if ev.add {
			audio, video = ev.hasAudio.Or(true), ev.hasVideo.Or(true)
			continue
		}
		audio, video = ev.hasAudio.Or(audio), ev.hasVideo.Or(video)
	}
	return
}

// buildSessions turns the log into sessions, in creation order.
//
//   - mediasession.add with a truthy id and a url makes a session (an id of 0
//     or "" is ignored, spec §2.5).
//   - Choice: a second add with an id already seen, or with a url already
//     used by an earlier session, is ignored with a warning: one media id
//     and one file have one start, and showing the same file twice would
//     also play its audio twice (echo).
//   - Any other event whose data has a url not yet known is a fallback
//     session fallback_N (N = sessions so far), running to the end.
//   - Durations come from the latest mediasession.update of the id,
//     wherever it is in the log (an update before its add still applies).
func buildSessions(flow *mts.Flow, l *flowLog, w *warnings) []*session {
	for _, evs := range l.confEvents {
		sort.SliceStable(evs, func(i, j int) bool {
			if evs[i].time != evs[j].time {
				return evs[i].time < evs[j].time
			}
			return evs[i].index < evs[j].index
		})
	}
	adminConf := func(conf string) bool {
		u, ok := l.confUser[conf]
		return ok && l.adminUsers[u]
	}
	var out []*session
	ids := map[string]bool{}
	urls := map[string]string{}
	newSession := func(id, url, conf string, t float64) *session {
		s := &session{id: id, url: url, seq: len(out), rawStart: t, conference: conf,
			user: l.confUser[conf], admin: conf != "" && adminConf(conf)}
		s.confAudio, s.confVideo = flagsAt(l.confEvents[conf], t)
		ids[id] = true
		urls[url] = id
		out = append(out, s)
		return s
	}
	for _, a := range l.adds {
		id := a.ms.ID.String()
		switch {
		case !a.ms.ID.Valid():
			if a.ms.URL != "" {
				w.add("mediasession.add at %s (entry %d) has no id (0 or empty); ignored", secs(a.time), a.index)
			}
			continue
		case a.ms.URL == "":
			w.add("mediasession.add %s at %s has no url; ignored", id, secs(a.time))
			continue
		case ids[id]:
			w.add("mediasession.add %s at %s repeats a session id; the first add is kept", id, secs(a.time))
			continue
		case urls[a.ms.URL] != "":
			w.add("mediasession.add %s at %s has the same url as session %s; the first is kept", id, secs(a.time), urls[a.ms.URL])
			continue
		}
		conf := ""
		if a.ms.Stream.Conference.ID.Valid() {
			conf = a.ms.Stream.Conference.ID.String()
		}
		s := newSession(id, a.ms.URL, conf, a.time)
		s.screenshare = a.ms.IsScreenshare()
		if a.ms.Stream.ID.Valid() {
			s.stream = a.ms.Stream.ID.String()
		}
	}
	for _, i := range l.urlEvents {
		e := &flow.Events[i]
		for _, u := range e.URLs() {
			if urls[u.URL] != "" {
				continue
			}
			id := fmt.Sprintf("fallback_%d", len(out))
			for n := len(out); ids[id]; n++ {
				id = fmt.Sprintf("fallback_%d_%d", len(out), n)
			}
			conf := ""
			if u.Stream.Conference.ID.Valid() {
				conf = u.Stream.Conference.ID.String()
			}
			newSession(id, u.URL, conf, e.RelativeTime)
			w.add("%s event at %s carries media url %s; added as session %s", moduleName(e.Module), secs(e.RelativeTime), u.URL, id)
		}
	}
	for _, s := range out {
		if u, ok := l.updates[s.id]; ok {
			s.apiDuration = u.duration
		}
	}
	return out
}

func moduleName(m string) string {
	if m == "" {
		return "an unnamed"
	}
	return fmt.Sprintf("a %q", m)
}

// secs formats a time for warnings.
func secs(t float64) string {
	return strconv.FormatFloat(round6(t), 'f', -1, 64) + "s"
}

// round6 rounds a time to the microsecond, so sums of flow times do not leak
// float noise into the plan.
func round6(t float64) float64 {
	if math.Abs(t) > 1e9 {
		return t
	}
	return math.Round(t*1e6) / 1e6
}

// warnings collects the plan's warnings, at most maxWarnings of them.
type warnings struct {
	list    []string
	dropped int
}

const maxWarnings = 100

func (w *warnings) add(format string, args ...any) {
	if len(w.list) >= maxWarnings {
		w.dropped++
		return
	}
	w.list = append(w.list, fmt.Sprintf(format, args...))
}

func (w *warnings) result() []string {
	out := append([]string{}, w.list...)
	if w.dropped > 0 {
		out = append(out, fmt.Sprintf("%d more warnings not shown", w.dropped))
	}
	return out
}

// probeOf returns the session's usable probe, or nil when it has none.
func probeOf(opts *Options, id string) (*proto.MediaInfo, error) {
	p, ok := opts.Probes[id]
	if !ok {
		return nil, nil
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}
