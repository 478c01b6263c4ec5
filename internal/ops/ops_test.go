package ops_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsCountTasksAndServeThem(t *testing.T) {
	_, nc, js := bustest.Start(t)
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := ops.NewMetrics(proto.RoleRenderer)
	m.Registry().MustRegister(ops.NewQueueDepth(js, ops.FarmQueues))
	subj := proto.RenderSubject("j1")
	for range 3 {
		m.TaskStarted(subj)
	}
	m.TaskFinished(subj, bus.OutcomeDone, 2*time.Second)
	m.TaskFinished(subj, bus.OutcomeHung, time.Minute)
	m.Rendered(1800, 600*time.Second)
	m.Failure("render", "stalled", "unit 3 of job j1: https://s3/x?X-Amz-Signature=SECRET stalled")
	m.Fetched(1 << 20)
	m.Finalized(40 * time.Second)
	// Two tasks queued on the render stream's normal lane.
	for i := range 2 {
		if _, err := js.Publish(context.Background(), proto.RenderSubjectLane("j1", proto.LaneNormal), []byte(`{}`),
			jetstream.WithMsgID(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}

	draining := false
	srv := httptest.NewServer(ops.Handler(m, func() bool { return draining }, ops.NATSCheck(nc), ops.StoreCheck(store)))
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`mtsfarm_tasks_in_flight{kind="render",role="renderer"} 1`,
		`mtsfarm_tasks_total{kind="render",outcome="done",role="renderer"} 1`,
		`mtsfarm_failures_total{kind="render",reason="hung",role="renderer"} 1`,
		`mtsfarm_failures_total{kind="render",reason="stalled",role="renderer"} 1`,
		`mtsfarm_render_media_seconds_total{role="renderer"} 1800`,
		`mtsfarm_render_speed{role="renderer"} 3`,
		`mtsfarm_fetch_bytes_total{role="renderer"} 1.048576e+06`,
		`mtsfarm_finalize_seconds_count{role="renderer"} 1`,
		`mtsfarm_queue_pending{lane="normal",stream="MTSFARM_RENDER"} 2`,
		`mtsfarm_queue_pending{lane="high",stream="MTSFARM_RENDER"} 0`,
		`mtsfarm_queue_ack_pending{lane="normal",stream="MTSFARM_FETCH"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s := m.Snapshot()
	if s.InFlight != 1 || s.Done != 1 || s.Failed != 1 || s.Failures["stalled"] != 1 || s.Speed != 3 ||
		strings.Contains(s.LastFailure, "SECRET") {
		t.Errorf("snapshot %+v", s)
	}

	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz while connected: %d %s", code, body)
	}
	draining = true
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/readyz while draining: %d %s", code, body)
	}
	draining = false
	nc.Close()
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "nats: NATS connection is CLOSED") {
		t.Errorf("/readyz without NATS: %d %s", code, body)
	}
}

func TestServiceShowsTheWorkerAndItsStats(t *testing.T) {
	_, nc, _ := bustest.Start(t)
	m := ops.NewMetrics(proto.RoleRenderer)
	m.TaskStarted(proto.RenderSubject("j1"))
	m.TaskFinished(proto.RenderSubject("j1"), bus.OutcomeDone, time.Second)
	m.Rendered(60, 20*time.Second)
	info := func() proto.WorkerInfo {
		return proto.WorkerInfo{ID: "renderer-gpu-1", Host: "gpu-1", Roles: []string{proto.RoleRenderer},
			Encoders: []string{"h264_nvenc", "libx264"}, GPU: "NVIDIA H100", Slots: 2, Current: []string{"j1/3"}}
	}
	svc, err := ops.StartService(nc, ops.ServiceConfig{Role: proto.RoleRenderer, Version: "dev", Info: info}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()

	msg, err := nc.Request("$SRV.INFO.mtsfarm-renderer", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var si micro.Info
	if err := json.Unmarshal(msg.Data, &si); err != nil {
		t.Fatal(err)
	}
	if si.Name != "mtsfarm-renderer" || si.Version != "0.0.0-dev" || si.Metadata["encoders"] != "h264_nvenc,libx264" ||
		si.Metadata["gpu"] != "NVIDIA H100" || si.Metadata["worker"] != "renderer-gpu-1" {
		t.Errorf("service info %+v", si)
	}
	msg, err = nc.Request("$SRV.STATS.mtsfarm-renderer", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st micro.Stats
	if err := json.Unmarshal(msg.Data, &st); err != nil || len(st.Endpoints) != 1 {
		t.Fatalf("stats %s: %v", msg.Data, err)
	}
	var status ops.Status
	if err := json.Unmarshal(st.Endpoints[0].Data, &status); err != nil {
		t.Fatal(err)
	}
	if status.Stats.Done != 1 || status.Stats.Speed != 3 || len(status.Current) != 1 || status.Current[0] != "j1/3" {
		t.Errorf("stats data %+v", status)
	}
	msg, err = nc.Request(ops.StatusSubject("renderer-gpu-1"), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"media_seconds":60`) {
		t.Errorf("status reply %s", msg.Data)
	}
}
