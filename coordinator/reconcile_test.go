package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// status reads a job through the API.
func (h *harness) status(id string) proto.Job {
	h.t.Helper()
	data, errHdr := h.request(proto.SubjectStatus, []byte(`{"job": "`+id+`"}`))
	if errHdr != "" {
		h.t.Fatalf("status %s: %s %s", id, errHdr, data)
	}
	var j proto.Job
	if err := json.Unmarshal(data, &j); err != nil {
		h.t.Fatal(err)
	}
	return j
}

// A task that runs out of deliveries (here: a fetcher that hands the resolve
// task back every time) fails its job with the reason, and the dead message
// leaves the work queue. Before, it sat there undelivered and the job hung.
func TestMaxDeliveriesFailJob(t *testing.T) {
	h := startCoordinator(t)
	id := h.submit(`{"url": "` + goodURL + `"}`).Jobs[0].ID
	cons := bustest.Consumer(t, h.js, proto.StreamFetch, proto.ConsumerFetchers)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if j := h.status(id); j.State == proto.StateFailed {
			if !strings.Contains(j.Error, "delivered") || !strings.Contains(j.Error, proto.StreamFetch) {
				t.Fatalf("the job failed with %q, want the reason: its task ran out of deliveries", j.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is still %s after its task ran out of deliveries", h.status(id).State)
		}
		batch, err := cons.FetchNoWait(10)
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Nak()
		}
		time.Sleep(20 * time.Millisecond)
	}
	bustest.WaitFor(t, 10*time.Second, "the dead task to leave the queue", func() bool { return h.pending(proto.StreamFetch) == 0 })
}

// The reconciler republishes the next step of a job whose publish was lost
// (a coordinator that died between its KV write and its publish), and fails
// a job with no progress for the stall timeout, with the reason.
func TestReconcilerRepublishesAndFailsStalled(t *testing.T) {
	h := startCoordinator(t, func(c *Config) { c.ReconcileEvery, c.StallTimeout = 200*time.Millisecond, 4*time.Second })
	now := time.Now().UTC()
	lost := proto.Job{Type: proto.TypeJob, ID: "lostpublish1", Spec: proto.JobSpec{Type: proto.TypeJobSpec, URL: goodURL},
		Recording: "lost", State: proto.StateQueued, Created: now, Updated: now}
	data, _ := json.Marshal(lost)
	kv, err := h.js.KeyValue(h.ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(h.ctx, lost.ID, data); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, 10*time.Second, "the lost resolve task to be published", func() bool { return h.pending(proto.StreamFetch) == 1 })
	if j := h.status(lost.ID); j.State != proto.StateResolving {
		t.Fatalf("the job is %s after the reconciler published its resolve, want resolving", j.State)
	}
	// No fetcher answers: after the stall timeout the job fails, saying why.
	bustest.WaitFor(t, 20*time.Second, "the stalled job to fail", func() bool { return h.status(lost.ID).State == proto.StateFailed })
	if j := h.status(lost.ID); !strings.Contains(j.Error, "no progress") || !strings.Contains(j.Error, "retry") {
		t.Fatalf("stalled job error %q: want what happened and what to do", j.Error)
	}
}

// Two jobs with one title finishing at once get two outputs: names are
// claimed atomically (title, title_2), and a redelivered finalize of the
// same job gets its own name back.
func TestOutputNamesClaimedAtomically(t *testing.T) {
	h := startCoordinator(t)
	const n = 4
	keys := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := &proto.Job{ID: fmt.Sprintf("samejob%d", i), Title: "Лекция 1: введение"}
			k, err := h.coord.outputKey(h.ctx, j)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("two jobs got the output %s: %q", k, keys)
		}
		seen[k] = true
	}
	if !seen["outputs/Лекция_1_введение.mp4"] || !seen["outputs/Лекция_1_введение_2.mp4"] {
		t.Fatalf("output names %q: want the title and numbered copies", keys)
	}
	again, err := h.coord.outputKey(h.ctx, &proto.Job{ID: "samejob2", Title: "Лекция 1: введение"})
	if err != nil || again != keys[2] {
		t.Fatalf("the same job asked again got %s (%v), want its own %s", again, err, keys[2])
	}
}

// A job of a course (submitted with "course") is named "{course} - {title}"
// by default, and {course} fills a template of its own.
func TestOutputNameOfACourse(t *testing.T) {
	h := startCoordinator(t)
	k, err := h.coord.outputKey(h.ctx, &proto.Job{ID: "coursejob1", Title: "Лекция 2",
		Spec: proto.JobSpec{Course: "Go для всех"}})
	if err != nil || k != "outputs/Go_для_всех_-_Лекция_2.mp4" {
		t.Fatalf("course job named %q (%v)", k, err)
	}
	k, err = h.coord.outputKey(h.ctx, &proto.Job{ID: "coursejob2", Title: "Лекция 3",
		Spec: proto.JobSpec{Course: "Go", Name: "{title} ({course})"}})
	if err != nil || k != "outputs/Лекция_3_(Go).mp4" {
		t.Fatalf("course template gave %q (%v)", k, err)
	}
}

// Every coordinator replica drops the cached flows of jobs that are no
// longer open, not only the one that finished them: before, the flow of a
// job finalized by another replica stayed in memory for good.
func TestReconcilerDropsFlowsOfClosedJobs(t *testing.T) {
	h := startCoordinator(t, func(c *Config) { c.ReconcileEvery = 200 * time.Millisecond })
	kv, err := h.js.KeyValue(h.ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for id, state := range map[string]proto.JobState{"finishedelsewhere1": proto.StateDone, "stillopen1": proto.StateQueued} {
		j := proto.Job{Type: proto.TypeJob, ID: id, Spec: proto.JobSpec{Type: proto.TypeJobSpec, URL: goodURL},
			Recording: id, State: state, Created: now, Updated: now}
		data, _ := json.Marshal(j)
		if _, err := kv.Create(h.ctx, id, data); err != nil {
			t.Fatal(err)
		}
	}
	h.coord.mu.Lock()
	for _, id := range []string{"finishedelsewhere1", "stillopen1", "deletedjob1"} {
		h.coord.flows[id] = &resolvedJob{}
	}
	h.coord.mu.Unlock()
	bustest.WaitFor(t, 10*time.Second, "the closed jobs' flows to be dropped", func() bool { return h.coord.cachedFlows() == 1 })
	h.coord.mu.Lock()
	defer h.coord.mu.Unlock()
	if h.coord.flows["stillopen1"] == nil {
		t.Errorf("the open job's flow was dropped; kept %v", h.coord.flows)
	}
}

// flakyStore answers the first failures reads of a job's flow with a 503,
// as an S3 service restarting does.
type flakyStore struct {
	blob.Store
	failures atomic.Int32
}

func (s *flakyStore) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if strings.HasSuffix(key, "/flow.json") && s.failures.Add(-1) >= 0 {
		return nil, blob.Info{}, errors.New("S3 answered 503 Service Unavailable: Please reduce your request rate")
	}
	return s.Store.Get(ctx, key)
}

// A transient store error while reading a job's flow (when it is resolved,
// or on a cache miss after a restart) is retried; before, it failed the job.
func TestFlowReadRetriedWhenTheStoreIsUnavailable(t *testing.T) {
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: local}
	h := startCoordinatorWith(t, store)
	id := h.submit(`{"url": "` + goodURL + `"}`).Jobs[0].ID
	flow, err := os.ReadFile("plan/testdata/edge-duplicate-urls.flow.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Put(h.ctx, proto.FlowKey(id), bytes.NewReader(flow), int64(len(flow)), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	store.failures.Store(2)
	res := proto.FetchResult{Type: proto.TypeFetchResult, Job: id, Kind: proto.FetchResolve, Generation: h.status(id).Generation,
		Worker: "fetcher-test", Status: proto.FetchStored, Key: proto.FlowKey(id)}
	data, _ := json.Marshal(res)
	if _, err := h.js.Publish(h.ctx, proto.ResultSubject(id, proto.ResultFetch), data); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, 60*time.Second, "the job to be planned once the store answers", func() bool {
		s := h.status(id).State
		return s != proto.StateResolving && s != proto.StateQueued
	})
	if j := h.status(id); j.State == proto.StateFailed {
		t.Fatalf("the job failed on a passing store error: %s", j.Error)
	}
	if n := store.failures.Load(); n > 0 {
		t.Errorf("%d injected failures left: the flow was not read through the flaky store", n)
	}
}
