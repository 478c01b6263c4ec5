package mts

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// specExample is the example flow of spec §2.5.
const specExample = `{
  "name": "Лекция 3: Конкурентность в Go",
  "duration": 5400.0,
  "cuts": [],
  "eventLogs": [
    {"module": "userlist.add", "relativeTime": 0.0,
     "data": [{"role": "ADMIN", "user": {"id": 101, "nickname": "Лектор"}},
              {"role": "USER",  "user": {"id": 202, "nickname": "Студент"}}]},
    {"module": "conference.add", "relativeTime": 0.4,
     "data": {"id": 5001, "participationId": 9001, "hasAudio": true, "hasVideo": true,
              "user": {"id": 101, "nickname": "Лектор"}}},
    {"module": "mediasession.add", "relativeTime": 0.5,
     "data": {"id": "a1b2c3", "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/5e1f0c2d9a.mp4",
              "stream": {"id": 7001, "conference": {"id": 5001}}}},
    {"module": "presentation.update", "relativeTime": 30.0,
     "data": {"fileReference": {"slide": {"url": "https://events-storage.webinar.ru/api-storage/files/slides/2026/03/24/p1.jpg", "number": 1}}}},
    {"module": "mediasession.add", "relativeTime": 600.0,
     "data": {"id": "d4e5f6", "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/9c8b7a6f5e.mp4",
              "stream": {"id": 7002, "screensharing": {"id": 6001}}}},
    {"module": "conference.add", "relativeTime": 900.0,
     "data": {"id": 5002, "hasAudio": true, "hasVideo": false, "user": {"id": 202, "nickname": "Студент"}}},
    {"module": "mediasession.add", "relativeTime": 900.0,
     "data": {"id": "g7h8i9", "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/1a2b3c4d5e.mp4",
              "stream": {"id": 7003, "conference": {"id": 5002}}}},
    {"module": "mediasession.update", "relativeTime": 1020.0, "data": {"id": "g7h8i9", "duration": 120.0}},
    {"module": "mediasession.update", "relativeTime": 2400.0, "data": {"id": "d4e5f6", "duration": 1800.0}},
    {"module": "conference.update", "relativeTime": 5300.0, "data": {"id": 5002, "hasAudio": false}},
    {"module": "mediasession.update", "relativeTime": 5399.0, "data": {"id": "a1b2c3", "duration": 5398.5}}
  ]
}`

func TestDecodeFlowSpecExample(t *testing.T) {
	f, err := DecodeFlow([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "Лекция 3: Конкурентность в Go" || f.Duration != 5400 || len(f.Events) != 11 || len(f.Cuts) != 0 {
		t.Fatalf("flow = %q %v %d events", f.Name, f.Duration, len(f.Events))
	}
	users := f.Events[0].UserlistEntries()
	if !IsUserlist(f.Events[0].Module) || len(users) != 2 || !users[0].IsAdmin() || users[1].IsAdmin() || users[1].User.ID != "202" {
		t.Fatalf("userlist = %+v", users)
	}
	conf := f.Events[1].Conferences()
	if len(conf) != 1 || conf[0].ID != "5001" || conf[0].User.ID != "101" || !conf[0].HasAudio.Or(false) || !conf[0].HasVideo.Or(false) {
		t.Fatalf("conference = %+v", conf)
	}
	ms := f.Events[2].MediaSessions()
	if len(ms) != 1 || ms[0].ID != "a1b2c3" || ms[0].Stream.Conference.ID != "5001" || ms[0].IsScreenshare() || ms[0].Duration != nil {
		t.Fatalf("media session = %+v", ms)
	}
	if ss := f.Events[4].MediaSessions(); len(ss) != 1 || !ss[0].IsScreenshare() || ss[0].Stream.ID != "7002" {
		t.Fatalf("screenshare = %+v", ss)
	}
	p := f.Events[3].Presentations()
	if len(p) != 1 || p[0].FileReference.Slide.Number != 1 || !strings.HasSuffix(p[0].FileReference.Slide.URL, "p1.jpg") || p[0].Ends() {
		t.Fatalf("presentation = %+v", p)
	}
	if c := f.Events[5].Conferences(); c[0].HasVideo.Or(true) || !c[0].HasVideo.Set {
		t.Fatalf("hasVideo false lost: %+v", c)
	}
	up := f.Events[10].MediaSessions()
	if len(up) != 1 || up[0].Duration == nil || *up[0].Duration != 5398.5 || f.Events[10].RelativeTime != 5399 {
		t.Fatalf("update = %+v", up)
	}
	if cu := f.Events[9].Conferences(); cu[0].HasAudio.Or(true) || cu[0].HasVideo.Set {
		t.Fatalf("conference.update flags = %+v", cu)
	}
	for i, e := range f.Events {
		if e.Index != i {
			t.Fatalf("event %d has index %d", i, e.Index)
		}
	}
}

func TestDecodeFlowTolerant(t *testing.T) {
	doc := `{"name": 12345, "duration": "90.5", "cuts": [{"start": "1700000000", "end": 1700000030.5}, 7],
	  "convertedRecords": [], "eventLogs": [
	  "junk", 5, null, [],
	  {"module": "mediasession.add", "relativeTime": -3.5,
	   "data": {"id": 77, "url": "http://h/a.mp4", "stream": {"conference": {"id": "9"}, "screensharing": {"id": 0}}}},
	  {"module": "mediasession.add", "relativeTime": "12",
	   "data": [{"id": "x", "url": "http://h/b.mp4", "stream": {"screensharing": {"id": "66"}}}, 3, {"id": "", "url": ""}]},
	  {"module": "mediasession.update", "data": {"id": 77.0, "duration": "40"}},
	  {"module": "conference.add", "relativeTime": 1e400, "data": {"id": 9, "hasAudio": "false", "hasVideo": 1, "user": {"id": 1e3}}},
	  {"module": "userlist.update", "data": {"role": "lecturer", "user": {"id": "1000"}}},
	  {"module": "eventsession.start", "snapshot": {"data": {"userlist": [{"role": "ADMIN", "user": {"id": 5}}, "x"]}}},
	  {"module": "presentation.update", "relativeTime": 50, "data": {"isActive": false}},
	  {"module": "whiteboard.add", "relativeTime": 60, "data": {"url": "http://h/c.mp4", "stream": {"conference": {"id": 9}}, "extra": {"deep": [1, 2]}}},
	  {"module": "message.add", "relativeTime": 61, "data": "a string"},
	  {"relativeTime": null}
	]}`
	f, err := DecodeFlow([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "12345" || f.Duration != 90.5 {
		t.Fatalf("name/duration = %q %v", f.Name, f.Duration)
	}
	if len(f.Cuts) != 1 || f.Cuts[0] != (Cut{Start: 1700000000, End: 1700000030.5}) {
		t.Fatalf("cuts = %+v, want the one object item", f.Cuts)
	}
	if len(f.Events) != 10 {
		t.Fatalf("want the 10 object entries, got %d", len(f.Events))
	}
	if f.Events[0].Index != 4 || f.Events[0].RelativeTime != -3.5 {
		t.Fatalf("negative relativeTime or index lost: %+v", f.Events[0])
	}
	m := f.Events[0].MediaSessions()[0]
	if m.ID != "77" || m.Stream.Conference.ID != "9" || m.IsScreenshare() || !m.ID.Valid() {
		t.Fatalf("numeric ids: %+v", m)
	}
	list := f.Events[1].MediaSessions()
	if f.Events[1].RelativeTime != 12 || len(list) != 2 || !list[0].IsScreenshare() || list[1].ID.Valid() {
		t.Fatalf("data as a list: %+v", list)
	}
	if u := f.Events[2].MediaSessions()[0]; u.ID != "77" || u.Duration == nil || *u.Duration != 40 || f.Events[2].RelativeTime != 0 {
		t.Fatalf("update: %+v", u)
	}
	c := f.Events[3].Conferences()[0]
	if c.HasAudio.Or(true) || !c.HasVideo.Or(false) || c.User.ID != "1000" || f.Events[3].RelativeTime != 0 {
		t.Fatalf("conference flags as strings/numbers, relativeTime overflow: %+v %v", c, f.Events[3].RelativeTime)
	}
	if u := f.Events[4].UserlistEntries(); len(u) != 1 || !u[0].IsAdmin() {
		t.Fatalf("LECTURER (any case) is admin: %+v", u)
	}
	if s := f.Events[5].SnapshotUserlist(); len(s) != 1 || s[0].User.ID != "5" || !s[0].IsAdmin() {
		t.Fatalf("snapshot userlist: %+v", s)
	}
	if p := f.Events[6].Presentations(); len(p) != 1 || !p[0].Ends() || p[0].FileReference.Slide.URL != "" {
		t.Fatalf("presentation end: %+v", p)
	}
	if u := f.Events[7].URLs(); len(u) != 1 || u[0].URL != "http://h/c.mp4" || u[0].Stream.Conference.ID != "9" {
		t.Fatalf("fallback url: %+v", u)
	}
	var raw map[string]any
	if json.Unmarshal(f.Events[7].Data, &raw) != nil || raw["extra"] == nil {
		t.Fatalf("unknown module data not kept raw: %s", f.Events[7].Data)
	}
	if f.Events[8].MediaSessions() != nil || f.Events[8].URLs() != nil {
		t.Fatal("string data decoded as items")
	}
	if f.Events[9].Module != "" || f.Events[9].RelativeTime != 0 {
		t.Fatalf("module-less entry: %+v", f.Events[9])
	}
}

func TestDecodeFlowErrors(t *testing.T) {
	cases := []struct{ name, doc, why string }{
		{"not JSON", `<html>login</html>`, "not a JSON object"},
		{"list", `[1,2]`, "not a JSON object"},
		{"no name", `{"duration": 10, "eventLogs": []}`, "no name"},
		{"blank name", `{"name": "  ", "duration": 10}`, "no name"},
		{"null name", `{"name": null, "duration": 10}`, "no name"},
		{"no duration", `{"name": "x", "eventLogs": []}`, "duration"},
		{"zero duration", `{"name": "x", "duration": 0}`, "duration"},
		{"negative duration", `{"name": "x", "duration": -5}`, "duration"},
		{"text duration", `{"name": "x", "duration": "long"}`, "duration"},
		{"eventLogs object", `{"name": "x", "duration": 5, "eventLogs": {"a": 1}}`, "eventLogs is not a list"},
		{"access denied body", `{"error": {"code": 403, "message": "denied"}}`, "no name"},
		{"too big", `{"name": "x", "duration": 1, "pad": "` + strings.Repeat("a", MaxFlowBytes) + `"}`, "byte limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeFlow([]byte(c.doc))
			if !errors.Is(err, ErrBadFlow) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("DecodeFlow = %v, want ErrBadFlow saying %q", err, c.why)
			}
		})
	}
}

func TestIDNumberBool(t *testing.T) {
	ids := map[string]ID{`5001`: "5001", `"5001"`: "5001", `5001.0`: "5001", `0`: "0", `""`: "", `null`: "",
		`{}`: "", `true`: "", `-7`: "-7", `12345678901234567890`: "12345678901234567890", `1.5`: "1.5"}
	for in, want := range ids {
		var id ID
		if err := json.Unmarshal([]byte(in), &id); err != nil || id != want {
			t.Errorf("ID(%s) = %q, %v; want %q", in, id, err, want)
		}
	}
	if ID("0").Valid() || ID("").Valid() || !ID("a").Valid() {
		t.Error("ID truthiness")
	}
	nums := map[string]Number{`1.5`: 1.5, `"2.5"`: 2.5, `" 3 "`: 3, `"x"`: 0, `null`: 0, `[]`: 0, `-4`: -4, `"NaN"`: 0, `"Inf"`: 0}
	for in, want := range nums {
		var n Number
		if err := json.Unmarshal([]byte(in), &n); err != nil || n != want || math.IsNaN(float64(n)) {
			t.Errorf("Number(%s) = %v, %v; want %v", in, n, err, want)
		}
	}
	bools := map[string]Bool{`true`: {true, true}, `false`: {false, true}, `1`: {true, true}, `"0"`: {false, true},
		`null`: {}, `"yes"`: {}}
	for in, want := range bools {
		var b Bool
		if err := json.Unmarshal([]byte(in), &b); err != nil || b != want {
			t.Errorf("Bool(%s) = %+v, %v; want %+v", in, b, err, want)
		}
	}
	if (Bool{}).Or(true) != true || (Bool{Value: false, Set: true}).Or(true) != false {
		t.Error("Bool.Or")
	}
}

func FuzzDecodeFlow(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte(`{"name":1,"duration":"3","eventLogs":[{"module":"userlist.add","data":[{"role":"ADMIN","user":{"id":"1"}}]},{"module":"presentation.update","data":{"isActive":false}}]}`))
	f.Add([]byte(`{"name":"x","duration":1,"eventLogs":[{"module":"x","snapshot":{"data":{"userlist":[{}]}}},1]}`))
	f.Add([]byte(`{"error":{"code":403}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := DecodeFlow(data)
		if err != nil {
			if !errors.Is(err, ErrBadFlow) {
				t.Fatalf("error does not wrap ErrBadFlow: %v", err)
			}
			return
		}
		if strings.TrimSpace(fl.Name) == "" || !(fl.Duration > 0) || math.IsInf(fl.Duration, 0) {
			t.Fatalf("accepted flow without a name or positive duration: %q %v", fl.Name, fl.Duration)
		}
		last := -1
		for _, e := range fl.Events {
			if e.Index <= last || math.IsNaN(e.RelativeTime) || math.IsInf(e.RelativeTime, 0) {
				t.Fatalf("bad event %+v", e)
			}
			last = e.Index
			// No accessor may panic on any input.
			_ = e.MediaSessions()
			_ = e.Conferences()
			_ = e.UserlistEntries()
			_ = e.SnapshotUserlist()
			_ = e.Presentations()
			for _, u := range e.URLs() {
				if u.URL == "" {
					t.Fatal("URLs returned an empty url")
				}
			}
		}
	})
}
