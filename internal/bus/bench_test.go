package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// BenchmarkPublish is one validated, deduplicated task publish with its
// stream ack (in-process connection, file store).
func BenchmarkPublish(b *testing.B) {
	_, _, js := bustest.Start(b)
	ctx := context.Background()
	task := fetchTask(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := bus.Publish(ctx, js, proto.FetchSubject("j1"), task, proto.MsgID("j1", "media", i, 0)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWorker is the per-task overhead of the worker loop (one pull per
// free slot, a double ack) with a handler that does nothing.
func BenchmarkWorker(b *testing.B) {
	for _, slots := range []int{1, 4} {
		b.Run(map[int]string{1: "slots=1", 4: "slots=4"}[slots], func(b *testing.B) {
			_, _, js := bustest.Start(b)
			ctx := context.Background()
			for i := range b.N {
				if err := bus.Publish(ctx, js, proto.FetchSubject("j1"), fetchTask(i), ""); err != nil {
					b.Fatal(err)
				}
			}
			var done atomic.Int64
			all := make(chan struct{})
			n := int64(b.N)
			cons := bustest.Consumer(b, js, proto.StreamFetch, proto.ConsumerFetchers)
			w := &bus.Worker{Name: "bench", Consumer: cons, Slots: slots, PollWait: 200 * time.Millisecond,
				Handler: func(ctx context.Context, t *bus.Task) error {
					if done.Add(1) == n {
						close(all)
					}
					return nil
				}}
			runCtx, cancel := context.WithCancel(ctx)
			stopped := make(chan error, 1)
			b.ResetTimer()
			go func() { stopped <- w.Run(runCtx) }()
			<-all
			b.StopTimer()
			cancel()
			if err := <-stopped; err != nil {
				b.Fatal(err)
			}
		})
	}
}
