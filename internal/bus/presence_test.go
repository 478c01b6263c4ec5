package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestPresencePutsRenewsAndDeletes(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC()
	p := &bus.Presence{KV: kv, Every: 100 * time.Millisecond, Log: bustest.Logger(t),
		Info: func() proto.WorkerInfo {
			return proto.WorkerInfo{Type: proto.TypeWorker, ID: "r1", Host: "gpu-1",
				Roles: []string{proto.RoleRenderer}, Slots: 2, Started: started}
		}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	var first uint64
	bustest.WaitFor(t, 5*time.Second, "the presence entry", func() bool {
		e, err := kv.Get(ctx, "r1")
		if err != nil {
			return false
		}
		first = e.Revision()
		var info proto.WorkerInfo
		if err := json.Unmarshal(e.Value(), &info); err != nil || info.Validate() != nil {
			t.Fatalf("entry %s: %v", e.Value(), err)
		}
		if info.Host != "gpu-1" || info.Seen.Before(started) {
			t.Fatalf("entry %+v", info)
		}
		return true
	})
	bustest.WaitFor(t, 5*time.Second, "the entry to be renewed", func() bool {
		e, err := kv.Get(ctx, "r1")
		return err == nil && e.Revision() > first
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := kv.Get(ctx, "r1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("after Run: Get = %v, want ErrKeyNotFound", err)
	}
}

// TestPresenceStartOutlivesContext: the entry Start keeps stays after the
// context ends (the worker is still handing tasks back) and is gone when
// stop returns.
func TestPresenceStartOutlivesContext(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	p := &bus.Presence{KV: kv, Every: 50 * time.Millisecond, Log: bustest.Logger(t), Info: func() proto.WorkerInfo {
		return proto.WorkerInfo{Type: proto.TypeWorker, ID: "f1", Roles: []string{proto.RoleFetcher}, Slots: 1}
	}}
	runCtx, cancel := context.WithCancel(ctx)
	stop := p.Start(runCtx)
	bustest.WaitFor(t, 5*time.Second, "the presence entry", func() bool {
		_, err := kv.Get(ctx, "f1")
		return err == nil
	})
	cancel()
	e, err := kv.Get(ctx, "f1")
	if err != nil {
		t.Fatalf("after the context ended: Get = %v, want the entry", err)
	}
	bustest.WaitFor(t, 5*time.Second, "the entry to be renewed after the context ended", func() bool {
		n, err := kv.Get(ctx, "f1")
		return err == nil && n.Revision() > e.Revision()
	})
	stop()
	if _, err := kv.Get(ctx, "f1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("after stop: Get = %v, want ErrKeyNotFound", err)
	}
}

func TestPresenceRefusesInvalidInfo(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, proto.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	p := &bus.Presence{KV: kv, Info: func() proto.WorkerInfo {
		return proto.WorkerInfo{Type: proto.TypeWorker, ID: "Not Valid", Roles: []string{proto.RoleFetcher}}
	}}
	if err := p.Run(ctx); !errors.Is(err, proto.ErrInvalid) {
		t.Errorf("Run with an invalid id: %v, want ErrInvalid", err)
	}
	if keys, err := kv.Keys(ctx); !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Errorf("keys after refusing: %v, %v", keys, err)
	}
}
