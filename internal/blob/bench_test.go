package blob_test

import (
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/blob/blobtest"
)

// benchStreamSize is the stream BenchmarkPutStream uploads with size -1.
const benchStreamSize = 256 << 20

// BenchmarkPutStream uploads a 256 MiB stream of unknown size and reports
// the throughput (MB/s) and the peak heap growth during the upload
// (peak-heap-MiB, sampled with runtime.ReadMemStats every 5 ms), which stays
// near one part (times StreamThreads) however large the stream is.
//
//	PATH=$PWD/.tools/bin:$PATH go test -run '^$' -bench PutStream -benchtime 1x ./internal/blob
func BenchmarkPutStream(b *testing.B) {
	cases := []struct {
		name    string
		part    uint64
		threads uint
	}{
		{"s3/part16MiB", 16 << 20, 0},
		{"s3/part5MiB", 5 << 20, 0},
		{"s3/part16MiB-4threads", 16 << 20, 4},
		{"local", 0, 0},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var s blob.Store
			if bc.name == "local" {
				l, err := blob.NewLocal(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				s = l
			} else {
				cfg := minioSrv.Get(b).NewBucket(b)
				cfg.PartSize, cfg.StreamThreads = bc.part, bc.threads
				s3, err := blob.NewS3(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				s = s3
			}
			b.SetBytes(benchStreamSize)
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				sampler := startHeapSampler()
				b.StartTimer()
				_, err := s.Put(context.Background(), "bench/stream", struct{ io.Reader }{blobtest.NewStream(1, benchStreamSize)}, -1, blob.PutOptions{})
				b.StopTimer()
				peak = max(peak, sampler.stop())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// heapSampler tracks the largest HeapAlloc above the level at its start.
type heapSampler struct {
	base, peak uint64
	done       chan struct{}
	wg         sync.WaitGroup
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{base: ms.HeapAlloc, peak: ms.HeapAlloc, done: make(chan struct{})}
	h.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapAlloc)
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	})
	return h
}

// stop returns the peak growth in bytes.
func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak - h.base
}
