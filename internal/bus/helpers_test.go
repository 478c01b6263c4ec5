package bus_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/proto"
)

func fmtJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fetchTask is a valid message; index tells test messages apart.
func fetchTask(index int) proto.FetchTask {
	return proto.FetchTask{
		Type:  proto.TypeFetchTask,
		Job:   "j1",
		Kind:  proto.FetchMedia,
		Index: index,
		URL:   "https://events-storage.webinar.ru/chunk.mp4",
		Key:   proto.MediaKey("https://events-storage.webinar.ru/chunk.mp4", "mp4"),
	}
}

func publishTasks(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	for i := range n {
		if err := bus.Publish(context.Background(), js, proto.FetchSubject("j1"), fetchTask(i), ""); err != nil {
			t.Fatalf("publishing task %d: %v", i, err)
		}
	}
}

// ackLog records every ack-protocol message clients send for a stream's
// deliveries (+ACK, -NAK, +WPI, +TERM) by watching the $JS.ACK subjects.
type ackLog struct {
	mu   sync.Mutex
	acks []string
}

func watchAcks(t *testing.T, nc *nats.Conn, stream string) *ackLog {
	t.Helper()
	a := &ackLog{}
	sub, err := nc.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		if !strings.Contains(m.Subject, "."+stream+".") {
			return
		}
		a.mu.Lock()
		a.acks = append(a.acks, string(m.Data))
		a.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return a
}

// count is how many acks start with prefix.
func (a *ackLog) count(prefix string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.acks {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (a *ackLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.acks...)
}

// terminated collects MSG_TERMINATED advisories of a consumer.
type terminated struct {
	mu      sync.Mutex
	reasons map[uint64]string
}

func watchTerminated(t *testing.T, nc *nats.Conn, stream, consumer string) *terminated {
	t.Helper()
	tr := &terminated{reasons: map[uint64]string{}}
	sub, err := nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+stream+"."+consumer, func(m *nats.Msg) {
		var adv struct {
			StreamSeq uint64 `json:"stream_seq"`
			Reason    string `json:"reason"`
		}
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			t.Errorf("decoding advisory %s: %v", m.Data, err)
			return
		}
		tr.mu.Lock()
		tr.reasons[adv.StreamSeq] = adv.Reason
		tr.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return tr
}

func (tr *terminated) get() map[uint64]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range tr.reasons {
		out[k] = v
	}
	return out
}

// startWorker runs w until the returned stop is called (or the test ends)
// and checks that Run returns nil promptly.
func startWorker(t *testing.T, w *bus.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker %s: Run: %v", w.Name, err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("worker %s: Run did not return after cancel", w.Name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func consumerInfo(t *testing.T, c jetstream.Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}
