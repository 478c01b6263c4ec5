package fetcher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// benchScenario is one webcam recorded as 30 chunks of 30 s.
const benchScenario = `{
  "name": "Bench: 30 chunks", "duration": 900, "org": 1, "event": 2, "event_session_id": 991, "record_file_id": 992,
  "participants": [{"id": 1, "name": "Lecturer", "role": "ADMIN"}],
  "streams": [{"kind": "webcam", "participant": 1, "start": 0, "width": 640, "height": 360,
               "color": "#d02020", "tone_hz": 440, "chunk_seconds": 30}]
}`

// BenchmarkFetch30Chunks downloads the 30 chunks of benchScenario from the
// fake MTS Link into a fresh local store with two fetchers (default slots
// and per-host limit, ffprobe validation, sidecars, results over JetStream),
// and, for comparison, copies the same bytes with one plain sequential HTTP
// stream. Both report MB/s of chunk bytes.
//
//	go test -run '^$' -bench Fetch30 -benchtime 3x ./fetcher
func BenchmarkFetch30Chunks(b *testing.B) {
	e := newEnv(b, benchScenario, "local")
	e.log = zerolog.Nop()
	chunks := e.fake.Chunks(0)
	if len(chunks) != 30 {
		b.Fatalf("%d chunks, want 30", len(chunks))
	}
	ctx := context.Background()
	if err := e.fake.Warm(ctx); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, c := range chunks {
		n, err := plainCopy(c.URL, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.Logf("30 chunks, %.1f MB in all", float64(total)/1e6)

	b.Run("fetchers=2", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e.store = &countingStore{Store: newStore(b, "local"), puts: map[string]int{}}
			f1, f2 := e.start(e.config("bench-a")), e.start(e.config("bench-b"))
			job := fmt.Sprintf("bench-%d-%d", b.N, i)
			time.Sleep(200 * time.Millisecond) // both pulling
			b.StartTimer()
			for j, c := range chunks {
				e.publish(mediaTask(job, j, c))
			}
			res := e.waitResults(job, len(chunks), 5*time.Minute)
			b.StopTimer()
			for _, r := range res {
				if r.Cached || r.Status != "stored" {
					b.Fatalf("chunk %d: %+v", r.Index, r)
				}
			}
			_, _ = f1.stop(), f2.stop()
		}
	})

	b.Run("plain-http", func(b *testing.B) {
		b.SetBytes(total)
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			for j, c := range chunks {
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.mp4", j)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := plainCopy(c.URL, f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		}
	})
}

// plainCopy GETs u into w over one plain HTTP connection.
func plainCopy(u string, w io.Writer) (int64, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.Copy(w, resp.Body)
}
