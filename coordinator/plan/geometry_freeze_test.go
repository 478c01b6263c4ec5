package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// chunkedFlow is a 300 s lecture: the lecturer's camera (stream 1) in three
// chunks and a screen share (stream 2) in two.
func chunkedFlow(t *testing.T) *mts.Flow {
	t.Helper()
	var ev []string
	add := func(at float64, id string, stream int, screen bool, dur float64) {
		kind := `"conference": {"id": 5001}`
		if screen {
			kind = `"screensharing": {"id": 6001}`
		}
		ev = append(ev,
			fmt.Sprintf(`{"module": "mediasession.add", "relativeTime": %g, "data": {"id": %q, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/%s.mp4", "stream": {"id": %d, %s}}}`, at, id, id, stream, kind),
			fmt.Sprintf(`{"module": "mediasession.update", "relativeTime": %g, "data": {"id": %q, "duration": %g}}`, at+dur, id, dur))
	}
	add(0, "cam1", 1, false, 100)
	add(100, "cam2", 1, false, 100)
	add(200, "cam3", 1, false, 100)
	add(50, "scr1", 2, true, 100)
	add(150, "scr2", 2, true, 100)
	doc := `{"name": "Lecture", "duration": 300, "eventLogs": [
	  {"module": "userlist.add", "relativeTime": 0, "data": [{"role": "ADMIN", "user": {"id": 101}}]},
	  {"module": "conference.add", "relativeTime": 0, "data": {"id": 5001, "hasAudio": true, "hasVideo": true, "user": {"id": 101}}},
	  ` + strings.Join(ev, ",\n") + `]}`
	f, err := mts.DecodeFlow([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFreezeGeometry(t *testing.T) {
	flow := chunkedFlow(t)
	opts := Options{UnitSeconds: 100}
	base, err := Plan(flow, opts)
	if err != nil {
		t.Fatal(err)
	}
	if base.GeometryKnown {
		t.Fatal("geometry known before any probe")
	}
	cam := proto.MediaInfo{Duration: 100, HasVideo: true, HasAudio: true, Width: 640, Height: 360}
	scr := proto.MediaInfo{Duration: 100, HasVideo: true, Width: 1440, Height: 900}

	// Only the camera's stream is probed: the screen share's size is unknown.
	opts.Probes = map[string]proto.MediaInfo{"cam1": cam}
	if _, _, ok := FreezeGeometry(flow, opts, base); ok {
		t.Fatal("froze the size before the screen share stream was probed")
	}
	// One chunk of each stream: the size follows the screen share (1440×900
	// capped at 720 high), while four chunks still download.
	opts.Probes["scr1"] = scr
	w, h, ok := FreezeGeometry(flow, opts, base)
	if !ok || w != 1152 || h != 720 {
		t.Fatalf("froze %dx%d (%v), want 1152x720", w, h, ok)
	}
	// A frozen size is used as is and makes the geometry known.
	opts.Width, opts.Height = w, h
	p, err := Plan(flow, opts)
	if err != nil || !p.GeometryKnown || p.Width != 1152 || p.Height != 720 {
		t.Fatalf("plan with a frozen size: %v %v %dx%d", err, p.GeometryKnown, p.Width, p.Height)
	}
	// An absent chunk does not block freezing; a stream with only absent
	// chunks does not count.
	opts = Options{UnitSeconds: 100, Probes: map[string]proto.MediaInfo{"cam2": cam},
		Absent: map[string]string{"scr1": "404", "scr2": "404"}}
	if w, h, ok = FreezeGeometry(flow, opts, base); !ok || w != 640 || h != 360 {
		t.Fatalf("with the screen share absent: %dx%d %v, want 640x360", w, h, ok)
	}
	if _, err := Plan(flow, Options{Width: 641, Height: 360}); err == nil {
		t.Fatal("an odd fixed width was accepted")
	}
}
