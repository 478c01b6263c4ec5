package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Event streaming: GET /api/events is a server-sent-events stream of every
// job event, fed by one core NATS subscription on the events subjects that
// lives exactly as long as the request (a closed tab costs nothing).
// Progress events are coalesced to the latest per job and sent at most
// every progressEvery; state changes, warnings and errors go at once. A tab
// that cannot keep up loses progress events, never the connection, and is
// told to reload its lists ("resync").

const (
	progressEvery  = 250 * time.Millisecond
	heartbeatEvery = 15 * time.Second
	eventBuffer    = 256
)

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	ch := make(chan *nats.Msg, eventBuffer)
	dropped := make(chan struct{}, 1)
	sub, err := s.nc.Subscribe(proto.EventSubjects, func(m *nats.Msg) {
		select {
		case ch <- m:
		default:
			select {
			case dropped <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "subscribing to the job events: " + err.Error()})
		return
	}
	defer sub.Unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	flusher.Flush()

	send := func(kind string, v any) bool {
		data, _ := json.Marshal(v)
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, data)
		return err == nil
	}
	progress := map[string]eventView{}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			var e proto.Event
			if json.Unmarshal(m.Data, &e) != nil || e.Job == "" {
				continue
			}
			v := eventOf(e)
			if e.Kind == proto.EventProgress {
				progress[e.Job] = v
				continue
			}
			delete(progress, e.Job)
			if !send("job", v) {
				return
			}
			flusher.Flush()
		case <-dropped:
			if !send("resync", map[string]string{"reason": "events came faster than this page read them"}) {
				return
			}
			flusher.Flush()
		case <-tick.C:
			if len(progress) == 0 {
				continue
			}
			for id, v := range progress {
				if !send("job", v) {
					return
				}
				delete(progress, id)
			}
			flusher.Flush()
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": beat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
