package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestFetcherCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--slots", "0", "--store-dir", t.TempDir()}, "--slots"},
		{[]string{"--allow-host", "*.a/b", "--store-dir", t.TempDir()}, "--allow-host"},
		{[]string{"--mts-base-url", "ftp://x", "--store-dir", t.TempDir()}, "--mts-base-url"},
		{[]string{"--store-dir", t.TempDir(), "extra"}, "unexpected arguments"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"fetcher"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	code, _, errs := runCLI(t, nil, "fetcher", "--nats-url", "nats://127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "--store-dir") {
		t.Errorf("no store: exit %d, %q", code, errs)
	}
}

// TestFetcherCommand runs `mtsfarm fetcher` against a NATS server over TCP,
// a local store and the fake MTS Link, and fetches a flow with it.
func TestFetcherCommand(t *testing.T) {
	sc, err := mtstest.ParseScenario([]byte(`{"name": "CLI", "duration": 2, "org": 1, "event": 2,
		"event_session_id": 31, "record_file_id": 32, "participants": [{"id": 1, "name": "L", "role": "ADMIN"}],
		"streams": [{"kind": "audio", "participant": 1, "start": 0, "tone_hz": 440}]}`))
	if err != nil {
		t.Fatal(err)
	}
	fake := mtstest.Start(t, sc)
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: t.TempDir(), Port: -1, Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	_, js := bustest.Connect(t, e)
	if err := bus.Provision(context.Background(), js, bus.Definitions(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cli{stdout: &out, stderr: &errb, getenv: func(k string) string {
			return map[string]string{"MTSFARM_MTS_BASE_URL": fake.URL}[k]
		}}, []string{"fetcher", "--nats-url", e.ClientURL(), "--store-dir", t.TempDir(), "--work-dir", t.TempDir(),
			"--worker-id", "fetcher-cli", "--log-format", "json"})
	}()
	task := proto.FetchTask{Type: proto.TypeFetchTask, Job: "job-cli", Kind: proto.FetchResolve, URL: fake.RecordingURL(0),
		Key: proto.FlowKey("job-cli")}
	if err := bus.Publish(context.Background(), js, proto.FetchSubject("job-cli"), task, ""); err != nil {
		t.Fatal(err)
	}
	results, err := js.Consumer(context.Background(), proto.StreamResults, proto.ConsumerResults)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := results.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("no result from the fetcher command: %v\n%s", err, errb.String())
	}
	res, err := bus.Decode[proto.FetchResult](msg.Data())
	if err != nil || res.Status != proto.FetchStored || res.Worker != "fetcher-cli" || res.Title != "CLI" {
		t.Fatalf("result %+v, %v", res, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fetcher command did not stop after cancel")
	}
	if !strings.Contains(errb.String(), `"message":"fetcher started"`) {
		t.Errorf("no JSON start line in the log: %s", errb.String())
	}
}
