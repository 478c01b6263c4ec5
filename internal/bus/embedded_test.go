package bus_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Reopening the same data dir keeps streams, consumers, messages and KV.
func TestEmbeddedReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*bus.Embedded, jetstream.JetStream) {
		e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: dir, Log: bustest.Logger(t)})
		if err != nil {
			t.Fatalf("StartEmbedded: %v", err)
		}
		if u := e.ClientURL(); u != "" {
			t.Errorf("Port 0: ClientURL %q, want none (no TCP listener)", u)
		}
		nc, err := e.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return e, js
	}

	e, js := open()
	if err := bus.Provision(ctx, js, bus.Definitions(1)); err != nil {
		t.Fatal(err)
	}
	publishTasks(t, js, 3)
	kv, err := js.KeyValue(ctx, proto.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "j1", []byte(`{"state":"fetching"}`)); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, js)
	e.Shutdown()
	e.Shutdown() // twice is fine

	e, js = open()
	t.Cleanup(e.Shutdown)
	if n := bustest.StreamMsgs(t, js, proto.StreamFetch); n != 3 {
		t.Errorf("after reopening: %d fetch tasks, want 3", n)
	}
	kv, err = js.KeyValue(ctx, proto.BucketJobs)
	if err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	if ent, err := kv.Get(ctx, "j1"); err != nil || string(ent.Value()) != `{"state":"fetching"}` {
		t.Errorf("after reopening: job record %v, %v", ent, err)
	}
	// The workers bucket is in memory by design (presence is short-lived):
	// it is the one thing provisioning recreates.
	changes, err := bus.ProvisionChanges(ctx, js, bus.Definitions(1))
	if err != nil || len(changes) != 1 || changes[0] != "created KV bucket "+proto.BucketWorkers {
		t.Errorf("provisioning the reopened store: changes %q, error %v; want only the in-memory workers bucket created", changes, err)
	}
	after := takeSnapshot(t, js)
	for k, v := range before {
		if k == "stream KV_"+proto.BucketWorkers {
			continue
		}
		if after[k] != v {
			t.Errorf("%s changed across restart:\n before %s\n after  %s", k, v, after[k])
		}
	}
}

// Port -1 opens a TCP listener on a random loopback port that Connect (and
// the nats CLI) can use.
func TestEmbeddedListensWhenAsked(t *testing.T) {
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: t.TempDir(), Port: -1, ServerName: "test-farm", Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	u := e.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":-1") || strings.HasSuffix(u, ":0") {
		t.Fatalf("ClientURL %q, want nats://127.0.0.1:<port>", u)
	}
	nc, err := bus.Connect(bus.Config{URL: u, Name: "tester"})
	if err != nil {
		t.Fatalf("connecting over TCP: %v", err)
	}
	defer nc.Close()
	if got := nc.ConnectedServerName(); got != "test-farm" {
		t.Errorf("server name %q, want test-farm", got)
	}
	if got := nc.MaxPayload(); got != bus.MaxPayload {
		t.Errorf("max payload %d, want %d as the shipped configs (a long job's record must fit)", got, bus.MaxPayload)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Errorf("JetStream over TCP: %v", err)
	}
}

func TestEmbeddedNeedsDataDir(t *testing.T) {
	_, err := bus.StartEmbedded(bus.EmbeddedConfig{})
	if err == nil || !strings.Contains(err.Error(), "no data dir") {
		t.Errorf("StartEmbedded without a data dir: %v", err)
	}
}
