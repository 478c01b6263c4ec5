package bus_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// farmRun publishes units tasks (timer stopped), then starts workers
// in-process bus.Workers (one slot each, one shared durable consumer, as
// separate renderer processes would be) and returns how long they took to
// finish them all. Each unit must be handled exactly once.
func farmRun(b *testing.B, workers, units int, work func(ctx context.Context)) time.Duration {
	b.Helper()
	b.StopTimer()
	_, _, js := bustest.Start(b)
	ctx := context.Background()
	for i := range units {
		if err := bus.Publish(ctx, js, proto.FetchSubject("j1"), fetchTask(i), proto.MsgID("j1", "media", i, 0)); err != nil {
			b.Fatal(err)
		}
	}
	cons := bustest.Consumer(b, js, proto.StreamFetch, proto.ConsumerFetchers)
	seen := make([]atomic.Int32, units)
	var done atomic.Int64
	all := make(chan struct{})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	b.StartTimer()
	start := time.Now()
	for w := range workers {
		wk := &bus.Worker{Name: fmt.Sprintf("bench-%d", w), Consumer: cons, Slots: 1, PollWait: 200 * time.Millisecond,
			Handler: func(ctx context.Context, t *bus.Task) error {
				ft, err := bus.Decode[proto.FetchTask](t.Data())
				if err != nil {
					return err
				}
				work(ctx)
				seen[ft.Index].Add(1)
				if done.Add(1) == int64(units) {
					close(all)
				}
				return nil
			}}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- wk.Run(runCtx) }()
	}
	<-all
	took := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			b.Fatalf("unit %d was handled %d times", i, n)
		}
	}
	b.StartTimer()
	return took
}

// BenchmarkFarmNoop is the scheduling overhead of the farm itself: 1,000
// units through embedded JetStream to 50 workers whose work is a no-op.
// units/s is the throughput; us/unit the cost of handing out and settling
// one unit (pull, heartbeat setup, double ack).
func BenchmarkFarmNoop(b *testing.B) {
	const workers, units = 50, 1000
	var total time.Duration
	for range b.N {
		total += farmRun(b, workers, units, func(context.Context) {})
	}
	n := float64(units * b.N)
	b.ReportMetric(n/total.Seconds(), "units/s")
	b.ReportMetric(float64(total.Microseconds())/n, "us/unit")
}

// BenchmarkFarmScaling gives every worker 10 units of a fixed 50 ms each
// (weak scaling: the ideal time is 0.5 s at every worker count) and reports
// efficiency = ideal / measured at 1, 10 and 50 workers (1.0 is perfect).
func BenchmarkFarmScaling(b *testing.B) {
	const perWorker, unitTime = 10, 50 * time.Millisecond
	for _, workers := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += farmRun(b, workers, workers*perWorker, func(ctx context.Context) {
					select {
					case <-time.After(unitTime):
					case <-ctx.Done():
					}
				})
			}
			ideal := time.Duration(b.N) * perWorker * unitTime
			b.ReportMetric(ideal.Seconds()/total.Seconds(), "efficiency")
		})
	}
}
