package plan

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// benchFlow is a 3-hour webinar with 20,000 events and 300 media sessions:
// a lecturer's webcam in 3-minute chunks, 10 students' webcams coming and
// going, screenshares, audio-only listeners, 200 slide changes, roles and
// conference flags, and chat filling the rest of the log.
func benchFlow() []byte {
	const duration = 3 * 3600.0
	var events []map[string]any
	ev := func(module string, t float64, data any) {
		events = append(events, map[string]any{"module": module, "relativeTime": t, "data": data})
	}
	users := []any{map[string]any{"role": "LECTURER", "user": map[string]any{"id": 1}}}
	for u := 2; u <= 40; u++ {
		users = append(users, map[string]any{"role": "USER", "user": map[string]any{"id": u}})
	}
	ev("userlist.add", 0, users)
	for u := 1; u <= 40; u++ {
		ev("conference.add", float64(u), map[string]any{"id": 1000 + u, "hasAudio": true, "hasVideo": u <= 11, "user": map[string]any{"id": u}})
	}
	sessions := 0
	addSession := func(conf int, screen bool, start, dur float64) {
		id := fmt.Sprintf("ms%03d", sessions)
		stream := map[string]any{"conference": map[string]any{"id": conf}}
		if screen {
			stream = map[string]any{"screensharing": map[string]any{"id": 5000 + sessions}}
		}
		ev("mediasession.add", start, map[string]any{"id": id, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/" + id + ".mp4", "stream": stream})
		ev("mediasession.update", start+dur, map[string]any{"id": id, "duration": dur})
		sessions++
	}
	for t := 0.5; t < duration; t += 180.05 { // 60 lecturer chunks
		addSession(1001, false, t, 180)
	}
	for i := 0; sessions < 260; i++ { // students' webcams
		addSession(1002+i%10, false, float64((i*397)%10500), 60+float64((i*53)%600))
	}
	for i := 0; sessions < 270; i++ { // screenshares
		addSession(0, true, 600+float64(i)*1000, 400)
	}
	for i := 0; sessions < 300; i++ { // audio-only listeners
		addSession(1012+i%29, false, float64((i*331)%10700), 30+float64(i%90))
	}
	for i := range 200 {
		ev("presentation.update", 30+float64(i)*53, map[string]any{"fileReference": map[string]any{"slide": map[string]any{
			"url": fmt.Sprintf("https://events-storage.webinar.ru/api-storage/files/slides/2026/03/24/p%d.jpg", i%60), "number": i % 60}}})
	}
	for i := 0; len(events) < 20000; i++ {
		if i%50 == 0 {
			ev("conference.update", float64(i%10800), map[string]any{"id": 1002 + i%10, "hasAudio": i%100 == 0})
			continue
		}
		ev("message.add", float64(i%10800), map[string]any{"sender": map[string]any{"displayName": "Студент"},
			"message": map[string]any{"text": fmt.Sprintf("вопрос %d про каналы и горутины", i)}})
	}
	data, err := json.Marshal(map[string]any{"name": "Трёхчасовая лекция", "duration": duration, "eventLogs": events})
	if err != nil {
		panic(err)
	}
	return data
}

// BenchmarkPlan plans the 3-hour flow (decoded once); the target is under
// 50 ms per plan.
func BenchmarkPlan(b *testing.B) {
	flow, err := mts.DecodeFlow(benchFlow())
	if err != nil {
		b.Fatal(err)
	}
	if len(flow.Events) != 20000 {
		b.Fatalf("%d events", len(flow.Events))
	}
	p, err := Plan(flow, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(p.Sessions) != 300 || len(p.Units) != 6 {
		b.Fatalf("%d sessions, %d units", len(p.Sessions), len(p.Units))
	}
	checkInvariants(b, flow, Options{}, p)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Plan(flow, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAndPlan includes decoding the 3-hour flow's JSON.
func BenchmarkDecodeAndPlan(b *testing.B) {
	data := benchFlow()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		flow, err := mts.DecodeFlow(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Plan(flow, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
