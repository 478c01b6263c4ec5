package bus_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// A job of high priority submitted behind a queue of long jobs gets its
// tasks first: the worker takes from the highest lane that has work. Here 6
// low-priority tasks, then 6 normal ones, then 3 high ones wait in the
// fetch stream before one single-slot worker starts; it must take the 3
// high ones first, then the normal ones, then the low ones, each lane in
// its own order. A high task published while the worker is busy with the
// low lane is still taken next.
func TestWorkerTakesHigherLanesFirst(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	pub := func(job string, lane proto.Lane, index int) {
		task := fetchTask(index)
		task.Job = job
		if err := bus.Publish(ctx, js, proto.FetchSubjectLane(job, lane), task, ""); err != nil {
			t.Fatalf("publishing %s/%d in lane %s: %v", job, index, lane, err)
		}
	}
	for i := range 6 {
		pub("low", proto.LaneLow, 100+i)
	}
	for i := range 6 {
		pub("normal", proto.LaneNormal, 200+i)
	}
	for i := range 3 {
		pub("urgent", proto.LaneHigh, 300+i)
	}
	lanes, err := bus.LaneConsumers(ctx, js, proto.StreamFetch, proto.ConsumerFetchers)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []int
	)
	late := make(chan struct{})
	startWorker(t, &bus.Worker{Name: "w", Lanes: lanes, Slots: 1, PollWait: pollWait, Log: bustest.Logger(t),
		Handler: func(ctx context.Context, task *bus.Task) error {
			i := index(t, task)
			mu.Lock()
			order = append(order, i)
			n := len(order)
			mu.Unlock()
			if n == 13 { // the fourth low task: a high one arrives now
				pub("late", proto.LaneHigh, 400)
				close(late)
			}
			return nil
		}})
	bustest.WaitFor(t, 20*time.Second, "all 16 tasks handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 16
	})
	<-late
	want := []int{300, 301, 302, 200, 201, 202, 203, 204, 205, 100, 101, 102, 103, 400, 104, 105}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Errorf("tasks handled in order %v\nwant %v (high lane, then normal, then low; the late high task next)", order, want)
	}
}

// LaneOf maps priorities to lanes; every lane has its own consumer and
// subject, and JobWorkSubjects (what a cancel purges) covers them all.
func TestLanes(t *testing.T) {
	for p, want := range map[int]proto.Lane{-5: proto.LaneLow, -1: proto.LaneLow, 0: proto.LaneNormal, 1: proto.LaneHigh, 10: proto.LaneHigh} {
		if got := proto.LaneOf(p); got != want {
			t.Errorf("LaneOf(%d) = %q, want %q", p, got, want)
		}
	}
	if got := proto.RenderSubjectLane("j1", proto.LaneHigh); got != "mtsfarm.render.j1.high" {
		t.Errorf("high render subject %q", got)
	}
	if got := proto.RenderSubject("j1"); got != "mtsfarm.render.j1" {
		t.Errorf("normal render subject %q", got)
	}
	if got, want := proto.JobWorkSubjects(proto.StreamFinalize, "j1"), []string{"mtsfarm.finalize.j1.high", "mtsfarm.finalize.j1", "mtsfarm.finalize.j1.low"}; !slices.Equal(got, want) {
		t.Errorf("JobWorkSubjects = %v, want %v", got, want)
	}
	for subj, job := range map[string]string{"mtsfarm.render.j1.high": "j1", "mtsfarm.fetch.j2": "j2", "mtsfarm.result.j3.render": "j3",
		"mtsfarm.events.j4.state": "j4", "mtsfarm.api.submit": "", "other.render.j1": "", "mtsfarm.render": ""} {
		if got := proto.JobOfSubject(subj); got != job {
			t.Errorf("JobOfSubject(%q) = %q, want %q", subj, got, job)
		}
	}
}

// A farm provisioned before the lanes (one consumer per work stream on
// mtsfarm.<kind>.*) upgrades in place: the stream takes the lane subjects,
// the lane consumers are added, and a task waiting in the old layout is
// still delivered to the normal lane's consumer.
func TestProvisionUpgradesToLanes(t *testing.T) {
	old := bus.Definitions(1)
	for i, s := range old.Streams {
		if len(s.Consumers) != 3 {
			continue
		}
		s.Stream.Subjects = []string{s.Consumers[1].FilterSubject} // mtsfarm.<kind>.*
		s.Consumers = s.Consumers[1:2]
		old.Streams[i] = s
	}
	_, _, js := bustest.StartWith(t, old)
	ctx := context.Background()
	publishTasks(t, js, 1)
	if err := bus.Provision(ctx, js, bus.Definitions(1)); err != nil {
		t.Fatalf("provisioning the lanes over the older layout: %v", err)
	}
	lanes, err := bus.LaneConsumers(ctx, js, proto.StreamFetch, proto.ConsumerFetchers)
	if err != nil {
		t.Fatal(err)
	}
	if info := consumerInfo(t, lanes[1]); info.NumPending != 1 {
		t.Errorf("the normal lane's consumer has %d pending after the upgrade, want the 1 old task", info.NumPending)
	}
}
