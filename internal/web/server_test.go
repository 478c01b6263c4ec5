package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// The dashboard's server against a real embedded NATS, with hand-written
// responders standing in for the coordinator where a test needs one (the
// browser test in cmd/mtsfarm drives the whole farm).

func newDashboard(t *testing.T, token string) (*httptest.Server, *nats.Conn) {
	t.Helper()
	_, nc, _ := bustest.Start(t)
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(nc, store, Config{Token: token, Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, nc
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out, resp.Header
}

func TestReadOnlyDashboardRefusesActions(t *testing.T) {
	ts, _ := newDashboard(t, "")
	code, body, _ := call(t, "GET", ts.URL+"/api/session", "", "")
	if code != 200 || body["actions"] != false {
		t.Fatalf("session of a read-only dashboard: %d %v", code, body)
	}
	for _, path := range []string{"/api/submit", "/api/login", "/api/jobs/j1/cancel", "/api/jobs/j1/retry", "/api/jobs/j1/priority"} {
		code, body, _ := call(t, "POST", ts.URL+path, "anything", `{"urls":"https://x"}`)
		if code != http.StatusForbidden || !strings.Contains(body["error"].(string), "--http-token") {
			t.Errorf("POST %s read-only: %d %v, want 403 naming --http-token", path, code, body)
		}
	}
}

func TestTokenGuardsActions(t *testing.T) {
	ts, _ := newDashboard(t, "s3cret")
	for _, tok := range []string{"", "s3cre", "s3cret2", "S3CRET"} {
		if code, _, _ := call(t, "POST", ts.URL+"/api/login", tok, ""); code != http.StatusUnauthorized {
			t.Errorf("login with %q: %d, want 401", tok, code)
		}
	}
	if code, body, _ := call(t, "POST", ts.URL+"/api/login", "s3cret", ""); code != 200 || body["actions"] != true {
		t.Fatalf("login with the token: %d %v", code, body)
	}
	// Nothing answers the job API: the page is told to start a coordinator.
	code, body, _ := call(t, "POST", ts.URL+"/api/jobs/j1/cancel", "s3cret", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), "coordinator") {
		t.Errorf("cancel without a coordinator: %d %v, want 503 naming the coordinator", code, body)
	}
	if code, _, _ := call(t, "POST", ts.URL+"/api/jobs/j1/priority", "s3cret", `{}`); code != http.StatusBadRequest {
		t.Errorf("priority without one: %d, want 400", code)
	}
	if code, _, _ := call(t, "POST", ts.URL+"/api/jobs/..%2Foutputs/cancel", "s3cret", ""); code != http.StatusNotFound {
		t.Errorf("cancel of an invalid job id: %d, want 404", code)
	}
	if code, body, _ := call(t, "POST", ts.URL+"/api/submit", "s3cret", `{"urls":"# only a comment\n"}`); code != http.StatusBadRequest {
		t.Errorf("submit without a URL: %d %v, want 400", code, body)
	}
	if code, _, _ := call(t, "POST", ts.URL+"/api/submit", "s3cret", `{"urls":"x","evil":1}`); code != http.StatusBadRequest {
		t.Errorf("submit with an unknown field: %d, want 400", code)
	}
}

func TestPageHeadersForbidInlineScript(t *testing.T) {
	ts, _ := newDashboard(t, "")
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("GET /: %d, CSP %q", resp.StatusCode, csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("missing framing/sniffing headers: %v", resp.Header)
	}
	if strings.Contains(string(page), "<script>") || !strings.Contains(string(page), `src="app.js"`) {
		t.Errorf("index.html must load app.js and hold no inline script")
	}
}

// respond answers subject the way the coordinator's micro endpoint would.
func respond(t *testing.T, nc *nats.Conn, subject string, fn func(*nats.Msg) (any, string)) {
	t.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		v, code := fn(m)
		data, _ := json.Marshal(v)
		reply := nats.NewMsg(m.Reply)
		reply.Data = data
		if code != "" {
			reply.Header.Set(micro.ErrorCodeHeader, code)
			reply.Header.Set(micro.ErrorHeader, "error")
		}
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

func TestListRedactsSecretsAndPassesTitlesAsData(t *testing.T) {
	ts, nc := newDashboard(t, "tok")
	hostile := `<img src=x onerror=alert(1)><script>alert(2)</script>`
	respond(t, nc, proto.SubjectList, func(*nats.Msg) (any, string) {
		return []jobSummary{{ID: "j1", State: proto.StateRendering, Title: hostile,
			URL:    "https://my.mts-link.ru/12/34/record-new/56?recordAccessToken=SECRET1",
			Error:  "fetching https://x/y.mp4?X-Amz-Signature=SECRET2&recordAccessToken=SECRET3 failed",
			Output: "outputs/j1/lecture.mp4"}}, ""
	})
	resp, err := http.Get(ts.URL + "/api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), "SECRET1") || strings.Contains(string(raw), "SECRET3") {
		t.Fatalf("a token reached the page: %s", raw)
	}
	var rows []jobRow
	if err := json.Unmarshal(raw, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("list: %v %s", err, raw)
	}
	if rows[0].Title != hostile {
		t.Errorf("title changed on the server (escaping is the page's textContent): %q", rows[0].Title)
	}
	if rows[0].Output != "lecture.mp4" {
		t.Errorf("output key reached the page as %q, want the file name only", rows[0].Output)
	}

	// A coordinator's error reply keeps its code and its words.
	respond(t, nc, proto.SubjectRetry, func(*nats.Msg) (any, string) {
		return proto.APIError{Error: "job j2 is done; nothing to retry"}, "400"
	})
	code, body, _ := call(t, "POST", ts.URL+"/api/jobs/j2/retry", "tok", "")
	if code != 400 || body["error"] != "job j2 is done; nothing to retry" {
		t.Errorf("retry of a done job: %d %v", code, body)
	}

	// The priority action sends the number it was given.
	got := make(chan proto.JobRequest, 1)
	respond(t, nc, proto.SubjectPriority, func(m *nats.Msg) (any, string) {
		var req proto.JobRequest
		_ = json.Unmarshal(m.Data, &req)
		got <- req
		return proto.Job{ID: req.Job, State: proto.StateRendering}, ""
	})
	if code, body, _ := call(t, "POST", ts.URL+"/api/jobs/j3/priority", "tok", `{"priority": 5}`); code != 200 || body["id"] != "j3" {
		t.Fatalf("priority: %d %v", code, body)
	}
	if req := <-got; req.Job != "j3" || req.Priority == nil || *req.Priority != 5 {
		t.Errorf("priority request on the wire: %+v", req)
	}
}

func TestEventsStreamLiveAndCoalesceProgress(t *testing.T) {
	ts, nc := newDashboard(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() string {
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "data: ") {
				return strings.TrimPrefix(l, "data: ")
			}
		}
		t.Fatalf("event stream ended: %v", lines.Err())
		return ""
	}
	for !strings.Contains(lines.Text(), "connected") && lines.Scan() {
	}
	publish := func(e proto.Event) {
		data, _ := json.Marshal(e)
		if err := nc.Publish(proto.EventSubject(e.Job, e.Kind), data); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	// 50 progress events of one job, then its state change: the page gets
	// the state at once and at most the latest progress, not 50 events.
	for i := 1; i <= 50; i++ {
		publish(proto.Event{Type: proto.TypeEvent, Job: "j1", Kind: proto.EventProgress, Time: now,
			Progress: &proto.Progress{Fraction: float64(i) / 50}})
	}
	publish(proto.Event{Type: proto.TypeEvent, Job: "j1", Kind: proto.EventState, State: proto.StateDone, Time: now,
		Message: "saved https://h/o.mp4?X-Amz-Signature=SIG"})
	_ = nc.Flush()
	var seen []eventView
	for len(seen) == 0 || seen[len(seen)-1].Kind != proto.EventState {
		var v eventView
		if err := json.Unmarshal([]byte(next()), &v); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, v)
	}
	if len(seen) > 3 {
		t.Errorf("50 progress events reached the page as %d events, want them coalesced", len(seen))
	}
	last := seen[len(seen)-1]
	if last.State != proto.StateDone || strings.Contains(last.Message, "SIG") {
		t.Errorf("state event: %+v", last)
	}
}

func TestWorkersShowSpeedAndFailures(t *testing.T) {
	srv, nc := newDashboard(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), proto.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	wi := proto.WorkerInfo{Type: proto.TypeWorker, ID: "renderer-gpu-1", Host: "gpu-1", Roles: []string{proto.RoleRenderer},
		Started: time.Now(), Seen: time.Now(), Stats: &proto.WorkerStats{Done: 7, Failed: 2, Speed: 4.5,
			LastFailure: "unit 3: reading https://s3/u.mp4?X-Amz-Signature=SECRET: timeout"}}
	data, _ := json.Marshal(wi)
	if _, err := kv.Put(context.Background(), wi.ID, data); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/api/workers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []workerRow
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil || len(rows) != 1 {
		t.Fatalf("workers: %v %+v", err, rows)
	}
	r := rows[0]
	if r.Done != 7 || r.Failed != 2 || r.Speed != 4.5 || strings.Contains(r.LastFailure, "SECRET") || !strings.Contains(r.LastFailure, "timeout") {
		t.Errorf("worker row %+v", r)
	}
}
