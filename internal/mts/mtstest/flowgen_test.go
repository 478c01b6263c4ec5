package mtstest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

const testBase = "http://fake.test:8089"

func bundledLayout(t *testing.T, name string, webinar int) *layout {
	t.Helper()
	sc, err := Bundled(name)
	if err != nil {
		t.Fatal(err)
	}
	return newLayout(sc.Webinars[webinar], testBase)
}

func decode(t *testing.T, doc []byte) *mts.Flow {
	t.Helper()
	f, err := mts.DecodeFlow(doc)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var wowzaRe = regexp.MustCompile(`^http://fake\.test:8089/api-storage/files/wowza/2026/03/24/[0-9a-f]{32}\.mp4$`)

// TestFlowOfIssueScenario checks the flow of issue 3's scenario against the
// shapes of spec §2.4/§2.5, entry by entry.
func TestFlowOfIssueScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(issueScenario))
	if err != nil {
		t.Fatal(err)
	}
	l := newLayout(sc.Webinars[0], testBase)
	f := decode(t, l.flowDoc(true))
	if f.Name != "Лекция 3: Конкурентность" || f.Duration != 360 {
		t.Fatalf("flow %q %v", f.Name, f.Duration)
	}
	if l.recording != testBase+"/1/2/record-new/123/record-file/456" {
		t.Fatalf("recording URL %q", l.recording)
	}
	var modules []string
	admins := map[mts.ID]bool{}
	confUser := map[mts.ID]mts.ID{}
	confFlags := map[mts.ID][2]bool{}
	adds := map[mts.ID]mts.MediaSession{}
	addTime := map[mts.ID]float64{}
	durations := map[mts.ID]float64{}
	var slides []mts.Presentation
	var slideTimes []float64
	last := -1e9
	for _, e := range f.Events {
		modules = append(modules, e.Module)
		if e.RelativeTime < last {
			t.Fatalf("log not in time order at %s %v", e.Module, e.RelativeTime)
		}
		last = e.RelativeTime
		switch {
		case mts.IsUserlist(e.Module):
			for _, u := range e.UserlistEntries() {
				if u.IsAdmin() {
					admins[u.User.ID] = true
				}
				if u.User.Nickname == "" {
					t.Errorf("userlist entry without a nickname: %+v", u)
				}
			}
		case e.Module == mts.ModuleConferenceAdd:
			c := e.Conferences()[0]
			confUser[c.ID] = c.User.ID
			confFlags[c.ID] = [2]bool{c.HasAudio.Or(false), c.HasVideo.Or(false)}
		case e.Module == mts.ModuleMediaSessionAdd:
			m := e.MediaSessions()[0]
			if !m.ID.Valid() || !wowzaRe.MatchString(m.URL) {
				t.Errorf("mediasession.add %+v", m)
			}
			if _, ok := confUser[m.Stream.Conference.ID]; !ok && !m.IsScreenshare() {
				t.Errorf("mediasession %s names conference %s before its conference.add", m.ID, m.Stream.Conference.ID)
			}
			adds[m.ID], addTime[m.ID] = m, e.RelativeTime
		case e.Module == mts.ModuleMediaSessionUpdate:
			m := e.MediaSessions()[0]
			if _, ok := adds[m.ID]; !ok || m.Duration == nil {
				t.Errorf("update of %s before its add or without duration", m.ID)
				continue
			}
			durations[m.ID] = float64(*m.Duration)
			if e.RelativeTime < addTime[m.ID] {
				t.Errorf("update of %s at %v is before its add at %v", m.ID, e.RelativeTime, addTime[m.ID])
			}
		case e.Module == mts.ModulePresentationUpdate:
			slides = append(slides, e.Presentations()[0])
			slideTimes = append(slideTimes, e.RelativeTime)
		}
	}
	if !admins["101"] || admins["202"] {
		t.Fatalf("admins %v", admins)
	}
	if len(confUser) != 2 || confUser["5001"] != "101" || confUser["5002"] != "202" ||
		confFlags["5001"] != [2]bool{true, true} || confFlags["5002"] != [2]bool{true, false} {
		t.Fatalf("conferences %v flags %v", confUser, confFlags)
	}
	// 3 webcam chunks of 120 s, 1 screenshare, 1 audio.
	if len(adds) != 5 || len(durations) != 5 {
		t.Fatalf("%d adds, %d updates", len(adds), len(durations))
	}
	var cam, share, audio int
	for id, m := range adds {
		switch {
		case m.IsScreenshare():
			share++
			if m.Stream.Conference.ID.Valid() || addTime[id] != 120 || durations[id] != 120 {
				t.Errorf("screenshare %+v at %v for %v", m, addTime[id], durations[id])
			}
		case m.Stream.Conference.ID == "5001":
			cam++
			if durations[id] != 120 || int(addTime[id])%120 != 0 {
				t.Errorf("webcam chunk at %v for %v", addTime[id], durations[id])
			}
		case m.Stream.Conference.ID == "5002":
			audio++
			if addTime[id] != 200 || durations[id] != 60 {
				t.Errorf("audio at %v for %v", addTime[id], durations[id])
			}
		}
	}
	if cam != 3 || share != 1 || audio != 1 {
		t.Fatalf("cam %d share %d audio %d", cam, share, audio)
	}
	if len(slides) != 3 || slideTimes[0] != 250 || slides[0].FileReference.Slide.Number != 1 ||
		!strings.HasPrefix(slides[0].FileReference.Slide.URL, testBase+"/api-storage/files/slides/2026/03/24/") ||
		slides[1].FileReference.Slide.URL == slides[0].FileReference.Slide.URL || !slides[2].Ends() || slides[0].Ends() {
		t.Fatalf("slides %+v at %v", slides, slideTimes)
	}
	if modules[0] != "eventsession.start" || modules[1] != "userlist.add" {
		t.Fatalf("log starts with %v", modules[:2])
	}
	// No unrelated event carries a top-level url (spec §2.5 note).
	for _, e := range f.Events {
		if e.Module != mts.ModuleMediaSessionAdd && len(e.URLs()) > 0 {
			t.Fatalf("%s has a url", e.Module)
		}
	}
	if len(l.chunks) != 5 || l.chunks[1].Faults[0] != FaultCorruptOnce || !l.chunks[1].DirectVideo {
		t.Fatalf("chunks %+v", l.chunks)
	}
}

func TestFlowEdgeCases(t *testing.T) {
	l := bundledLayout(t, "edge-cases.json", 0)
	full := decode(t, l.flowDoc(true))
	var updateFirst, fallback, confUpdate, lecturer, negative bool
	seen := map[mts.ID]bool{}
	var slideURLs []string
	noUpdate := l.chunks[1].SessionID
	for _, e := range full.Events {
		switch {
		case e.Module == mts.ModuleMediaSessionAdd:
			m := e.MediaSessions()[0]
			seen[m.ID] = true
			negative = negative || e.RelativeTime == -3
		case e.Module == mts.ModuleMediaSessionUpdate:
			m := e.MediaSessions()[0]
			if !seen[m.ID] {
				updateFirst = true // spec §5.17: this update comes before its add
			}
			if string(m.ID) == noUpdate {
				t.Error("no_update stream has an update")
			}
		case e.Module == "conference.record.add":
			u := e.URLs()
			fallback = len(u) == 1 && u[0].Stream.Conference.ID.Valid() && e.MediaSessions()[0].ID == ""
		case e.Module == mts.ModuleConferenceUpdate:
			c := e.Conferences()[0]
			confUpdate = c.HasAudio.Set && !c.HasAudio.Value && !c.HasVideo.Set && e.RelativeTime == 30
		case mts.IsUserlist(e.Module):
			for _, u := range e.UserlistEntries() {
				lecturer = lecturer || (u.Role == "LECTURER" && u.IsAdmin())
			}
		case e.Module == mts.ModulePresentationUpdate:
			if p := e.Presentations()[0]; !p.Ends() {
				slideURLs = append(slideURLs, p.FileReference.Slide.URL)
			}
		}
	}
	if !updateFirst || !fallback || !confUpdate || !lecturer || !negative {
		t.Fatalf("update before add %v, fallback %v, conference.update %v, LECTURER %v, negative start %v",
			updateFirst, fallback, confUpdate, lecturer, negative)
	}
	// Slides 0, 1 and 3 are number 1 in the same color: one URL, so 0→1 is
	// a consecutive duplicate; 2 differs.
	if len(slideURLs) != 4 || slideURLs[0] != slideURLs[1] || slideURLs[1] == slideURLs[2] || slideURLs[3] != slideURLs[0] {
		t.Fatalf("slide URLs %v", slideURLs)
	}
	if l.chunks[len(l.chunks)-1].HLSURL != "" {
		t.Fatal(`"hls": false still has an HLS URL`)
	}
	// The edited view (withoutCuts=false) drops the cut 14..17 and shifts
	// later events by 3 s.
	cut := decode(t, l.flowDoc(false))
	if cut.Duration != 37 || full.Duration != 40 || len(cut.Events) >= len(full.Events) || len(cut.Cuts) != 1 {
		t.Fatalf("cut view: %v s, %d of %d events", cut.Duration, len(cut.Events), len(full.Events))
	}
	for _, e := range cut.Events {
		if e.Module == mts.ModuleConferenceUpdate && e.RelativeTime != 27 {
			t.Fatalf("conference.update at %v in the cut view, want 27", e.RelativeTime)
		}
	}
	if c := full.Cuts[0]; c.End-c.Start != 3 || c.Start < 1.7e9 {
		t.Fatalf("cuts are epoch times: %+v", c)
	}

	quick := bundledLayout(t, "edge-cases.json", 1)
	if quick.recording != testBase+"/1/2007/record-new/300701" {
		t.Fatalf("quick meeting URL %q", quick.recording)
	}
	if org := l.recording; !strings.HasPrefix(org, testBase+"/MTC/2006/record-new/300601/record-file/400601") {
		t.Fatalf("org alias URL %q", org)
	}
}

func TestFlowAudio40AndSeminar(t *testing.T) {
	l := bundledLayout(t, "audio-40.json", 0)
	f := decode(t, l.flowDoc(true))
	confs := map[mts.ID]bool{}
	video := 0
	for _, e := range f.Events {
		if e.Module == mts.ModuleConferenceAdd {
			c := e.Conferences()[0]
			confs[c.ID] = true
			if c.HasVideo.Value {
				video++
			}
		}
	}
	if len(confs) != 41 || video != 1 || len(l.chunks) != 42 {
		t.Fatalf("%d conferences (%d with video), %d chunks", len(confs), video, len(l.chunks))
	}
	s := bundledLayout(t, "seminar-6.json", 0)
	colors := map[string]bool{}
	for _, c := range s.chunks {
		colors[c.Color] = true
	}
	if len(s.chunks) != 6 || len(colors) != 6 {
		t.Fatalf("seminar chunks %d colors %d", len(s.chunks), len(colors))
	}
	long := bundledLayout(t, "lecture-3h.json", 0)
	if n := len(long.chunks); n != 10 || long.chunks[5].Start != 9000 || long.chunks[5].Duration != 1800 {
		t.Fatalf("3-hour lecture: %d chunks, last webcam %+v", n, long.chunks[5])
	}
}

func TestFlowIsDeterministic(t *testing.T) {
	a := bundledLayout(t, "course-5.json", 2).flowDoc(true)
	b := bundledLayout(t, "course-5.json", 2).flowDoc(true)
	if string(a) != string(b) {
		t.Fatal("the same scenario gave two flows")
	}
	c := bundledLayout(t, "course-5.json", 3).flowDoc(true)
	if string(a) == string(c) {
		t.Fatal("two webinars gave one flow")
	}
}
