package mts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadFlow is wrapped by errors decoding a flow that is not a JSON object
// with a name and a positive duration.
var ErrBadFlow = errors.New("bad flow JSON")

// Flow is a recording's flow (spec §2.2): its name, duration and event log.
type Flow struct {
	Name string
	// Duration is the recording length in seconds (API `duration`).
	Duration float64
	Cuts     []Cut
	// Events in log order; entries that are not objects are dropped.
	Events []Event
}

// Cut is an organizer-marked removed interval (epoch seconds; unused by the
// planner, kept for diagnostics).
type Cut struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Event is one eventLogs entry (spec §2.3). Data and Snapshot stay raw: the
// typed accessors below decode the modules the planner reads, and any other
// module is kept as is.
type Event struct {
	Module string
	// RelativeTime is seconds from the recording start; it may be negative
	// in real data. Missing means 0.
	RelativeTime float64
	Data         json.RawMessage
	Snapshot     json.RawMessage
	// Index is the entry's position in the original eventLogs array.
	Index int
}

// ID is an MTS id that arrives as a JSON number or string. Its String form is
// the canonical text ("5001" for both 5001 and "5001"). The zero ID, an id of
// 0 or "" is not Valid (mtslinker only checks truthiness, spec §2.5).
type ID string

// UnmarshalJSON accepts numbers, strings, null and anything else as absent.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*id = ""
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return nil // objects, bools: treated as absent
	}
	if i, err := n.Int64(); err == nil {
		*id = ID(strconv.FormatInt(i, 10))
		return nil
	}
	if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e18 {
		*id = ID(strconv.FormatInt(int64(f), 10))
		return nil
	}
	*id = ID(n.String())
	return nil
}

// Valid reports whether the id is truthy: not empty and not 0.
func (id ID) Valid() bool { return id != "" && id != "0" }

func (id ID) String() string { return string(id) }

// Number is a float that arrives as a JSON number or a numeric string; it is
// 0 when missing or unparsable, and never NaN or Inf.
type Number float64

func (n *Number) UnmarshalJSON(b []byte) error {
	*n = 0
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	*n = Number(f)
	return nil
}

// Bool is a flag that arrives as a JSON bool (or 0/1, "true"/"false"); Set is
// false when the field was absent or unreadable.
type Bool struct {
	Value bool
	Set   bool
}

func (v *Bool) UnmarshalJSON(b []byte) error {
	*v = Bool{}
	switch strings.Trim(strings.TrimSpace(string(b)), `"`) {
	case "true", "1":
		*v = Bool{Value: true, Set: true}
	case "false", "0":
		*v = Bool{Value: false, Set: true}
	}
	return nil
}

// Or returns the value when set, else def.
func (v Bool) Or(def bool) bool {
	if v.Set {
		return v.Value
	}
	return def
}

// MaxFlowBytes bounds a flow document (a 3-hour webinar is a few MB).
const MaxFlowBytes = 64 << 20

// DecodeFlow decodes a flow document tolerantly. It fails only when the
// document is not a JSON object, or lacks a name or a positive finite
// duration (spec §2.2: both are required).
func DecodeFlow(data []byte) (*Flow, error) {
	if len(data) > MaxFlowBytes {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrBadFlow, len(data), MaxFlowBytes)
	}
	var top struct {
		Name      json.RawMessage   `json:"name"`
		Duration  Number            `json:"duration"`
		Cuts      json.RawMessage   `json:"cuts"`
		EventLogs []json.RawMessage `json:"eventLogs"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		// eventLogs that is not an array: retry without it so the error
		// names what is wrong.
		var obj map[string]json.RawMessage
		if err2 := json.Unmarshal(data, &obj); err2 != nil {
			return nil, fmt.Errorf("%w: not a JSON object: %v", ErrBadFlow, err2)
		}
		return nil, fmt.Errorf("%w: eventLogs is not a list: %v", ErrBadFlow, err)
	}
	f := &Flow{Duration: float64(top.Duration)}
	if err := json.Unmarshal(top.Name, &f.Name); err != nil || strings.TrimSpace(f.Name) == "" {
		var id ID // a numeric name is still a name
		if json.Unmarshal(top.Name, &id); strings.TrimSpace(id.String()) == "" {
			return nil, fmt.Errorf("%w: the recording has no name", ErrBadFlow)
		}
		f.Name = id.String()
	}
	if f.Duration <= 0 {
		return nil, fmt.Errorf("%w: duration is missing or not positive", ErrBadFlow)
	}
	if len(top.Cuts) > 0 {
		var items []json.RawMessage
		_ = json.Unmarshal(top.Cuts, &items)
		for _, it := range items {
			var c struct {
				Start Number `json:"start"`
				End   Number `json:"end"`
			}
			if t := bytes.TrimSpace(it); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &c) == nil {
				f.Cuts = append(f.Cuts, Cut{Start: float64(c.Start), End: float64(c.End)})
			}
		}
	}
	f.Events = make([]Event, 0, len(top.EventLogs))
	for i, raw := range top.EventLogs {
		var e struct {
			Module       json.RawMessage `json:"module"`
			RelativeTime Number          `json:"relativeTime"`
			Data         json.RawMessage `json:"data"`
			Snapshot     json.RawMessage `json:"snapshot"`
		}
		if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' || json.Unmarshal(raw, &e) != nil {
			continue // non-dict entries are skipped (spec §2.2)
		}
		var module string
		_ = json.Unmarshal(e.Module, &module)
		f.Events = append(f.Events, Event{Module: module, RelativeTime: float64(e.RelativeTime),
			Data: e.Data, Snapshot: e.Snapshot, Index: i})
	}
	return f, nil
}

// dataItems returns the event's data as a list of objects: an object is a list
// of one, a list keeps its object items, anything else is empty.
func (e Event) dataItems() []json.RawMessage {
	d := bytes.TrimSpace(e.Data)
	if len(d) == 0 {
		return nil
	}
	switch d[0] {
	case '{':
		return []json.RawMessage{d}
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(d, &list) != nil {
			return nil
		}
		out := list[:0]
		for _, it := range list {
			if t := bytes.TrimSpace(it); len(t) > 0 && t[0] == '{' {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

// decodeItems decodes every object item of the event's data into T, skipping
// items that do not decode.
func decodeItems[T any](e Event) []T {
	var out []T
	for _, raw := range e.dataItems() {
		var v T
		if json.Unmarshal(raw, &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// Module names the planner reads (spec §2.4).
const (
	ModuleMediaSessionAdd    = "mediasession.add"
	ModuleMediaSessionUpdate = "mediasession.update"
	ModuleConferenceAdd      = "conference.add"
	ModuleConferenceUpdate   = "conference.update"
	ModulePresentationUpdate = "presentation.update"
	ModulePresentationDelete = "presentation.delete"
)

// IsUserlist reports whether a module carries userlist entries (any module
// whose name contains "userlist").
func IsUserlist(module string) bool { return strings.Contains(module, "userlist") }

type idRef struct {
	ID ID `json:"id"`
}

// MediaSession is the data of a mediasession.add (or of a fallback event with
// a url).
type MediaSession struct {
	ID     ID     `json:"id"`
	URL    string `json:"url"`
	HLSURL string `json:"hlsUrl"`
	Stream struct {
		ID            ID    `json:"id"`
		Conference    idRef `json:"conference"`
		Screensharing idRef `json:"screensharing"`
	} `json:"stream"`
	// Duration is set on mediasession.update entries.
	Duration *Number `json:"duration"`
}

// IsScreenshare reports whether the session records a screen share
// (stream.screensharing.id is truthy).
func (m MediaSession) IsScreenshare() bool { return m.Stream.Screensharing.ID.Valid() }

// MediaSessions decodes the event's data as media sessions.
func (e Event) MediaSessions() []MediaSession { return decodeItems[MediaSession](e) }

// Conference is the data of a conference.add or conference.update.
type Conference struct {
	ID   ID `json:"id"`
	User struct {
		ID       ID     `json:"id"`
		Nickname string `json:"nickname"`
	} `json:"user"`
	HasAudio Bool `json:"hasAudio"`
	HasVideo Bool `json:"hasVideo"`
}

// Conferences decodes the event's data as conferences.
func (e Event) Conferences() []Conference { return decodeItems[Conference](e) }

// UserlistEntry is one entry of a userlist.* event.
type UserlistEntry struct {
	Role string `json:"role"`
	User struct {
		ID       ID     `json:"id"`
		Nickname string `json:"nickname"`
	} `json:"user"`
}

// IsAdmin reports whether the role shows the user as a presenter (ADMIN, or
// LECTURER as in the Leenday fork).
func (u UserlistEntry) IsAdmin() bool {
	r := strings.ToUpper(strings.TrimSpace(u.Role))
	return r == "ADMIN" || r == "LECTURER"
}

// UserlistEntries decodes the event's data as userlist entries.
func (e Event) UserlistEntries() []UserlistEntry { return decodeItems[UserlistEntry](e) }

// SnapshotUserlist decodes eventsession.start snapshot.data.userlist[].
func (e Event) SnapshotUserlist() []UserlistEntry {
	var s struct {
		Data struct {
			Userlist []json.RawMessage `json:"userlist"`
		} `json:"data"`
	}
	if json.Unmarshal(e.Snapshot, &s) != nil {
		return nil
	}
	var out []UserlistEntry
	for _, raw := range s.Data.Userlist {
		var u UserlistEntry
		if json.Unmarshal(raw, &u) == nil {
			out = append(out, u)
		}
	}
	return out
}

// Presentation is the data of a presentation.update. A slide change has a
// truthy FileReference.Slide.URL; the presentation ends with a
// presentation.update whose isActive is false (or a presentation.delete).
type Presentation struct {
	IsActive      Bool `json:"isActive"`
	FileReference struct {
		Slide struct {
			URL    string `json:"url"`
			Number Number `json:"number"`
		} `json:"slide"`
		File struct {
			ID ID `json:"id"`
		} `json:"file"`
	} `json:"fileReference"`
}

// Ends reports whether the update ends the presentation.
func (p Presentation) Ends() bool { return p.IsActive.Set && !p.IsActive.Value }

// Presentations decodes the event's data as presentation updates.
func (e Event) Presentations() []Presentation { return decodeItems[Presentation](e) }

// URLData is the url and conference of any event's data, for the fallback
// media sessions of spec §2.4 (an unknown module whose data has a url).
type URLData struct {
	URL    string `json:"url"`
	Stream struct {
		Conference idRef `json:"conference"`
	} `json:"stream"`
}

// URLs decodes the url-carrying items of the event's data.
func (e Event) URLs() []URLData {
	var out []URLData
	for _, u := range decodeItems[URLData](e) {
		if u.URL != "" {
			out = append(out, u)
		}
	}
	return out
}
