package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// e2eNATS runs the real nats CLI against server with a clean environment
// (no contexts, no NATS_* variables) and returns stdout, or fails with
// stderr.
func e2eNATS(t *testing.T, bin, server string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", server, "--no-context", "--timeout", "10s"}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &e2eExecError{args: args, err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type e2eExecError struct {
	args   []string
	err    error
	stderr string
}

func (e *e2eExecError) Error() string {
	return "nats " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

// TestE2ENATSCLISubmit is the farm path with the real nats CLI: a farm with
// a TCP listener; `nats micro ls` and `nats micro info mtsfarm` show the job
// API; `nats req mtsfarm.api.submit '{"url": …}'` answers with a job id;
// `mtsfarm watch` follows it to done, `nats req mtsfarm.api.status` agrees,
// and `mtsfarm get` downloads an output that is the recording.
func TestE2ENATSCLISubmit(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	natsBin := e2eNATSCLI(t)
	sc := e2eScenario(t, "testdata/e2e-short.json")
	fake := mtstest.Start(t, sc)
	f := e2eFlags(t, fake.URL)
	fm := e2eStartFarm(t, f)
	server := fm.emb.ClientURL()
	if !strings.HasPrefix(server, "nats://127.0.0.1:") || strings.HasSuffix(server, ":0") {
		t.Fatalf("the farm listens at %q; want a TCP port on 127.0.0.1", server)
	}

	// The micro service comes up with the coordinator.
	deadline := time.Now().Add(30 * time.Second)
	var ls string
	for {
		out, err := e2eNATS(t, natsBin, server, "micro", "ls")
		if err == nil && strings.Contains(out, proto.ServiceName) {
			ls = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats micro ls never listed %s: %q %v", proto.ServiceName, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(ls, proto.ServiceVersion) {
		t.Errorf("nats micro ls:\n%s\nwant the service version %s", ls, proto.ServiceVersion)
	}
	info, err := e2eNATS(t, natsBin, server, "micro", "info", proto.ServiceName)
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{proto.SubjectSubmit, proto.SubjectStatus, proto.SubjectList, proto.SubjectCancel, proto.SubjectRetry} {
		if !strings.Contains(info, subj) {
			t.Errorf("nats micro info %s does not show the endpoint %s:\n%s", proto.ServiceName, subj, info)
		}
	}

	// A course of one, as `nats req` archives a course on a farm.
	body, err := json.Marshal(map[string]any{"urls": []string{fake.RecordingURL(0)}, "course": "Курс 1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e2eNATS(t, natsBin, server, "req", "--raw", proto.SubjectSubmit, string(body))
	if err != nil {
		t.Fatal(err)
	}
	var reply proto.SubmitReply
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &reply); err != nil || reply.Validate() != nil || len(reply.Jobs) != 1 {
		t.Fatalf("nats req %s answered %q (%v); want a submit reply with one job", proto.SubjectSubmit, out, err)
	}
	job := reply.Jobs[0]
	if job.URL != fake.RecordingURL(0) || job.Existing {
		t.Errorf("submitted job %+v", job)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, events, stderr := e2eCommand(ctx, nil, "watch", "--events", "--nats-url", server, job.ID)
	if code != 0 {
		t.Fatalf("mtsfarm watch exited %d: %s\n%s", code, stderr, events)
	}
	if !strings.Contains(events, string(proto.StateDone)) || !strings.Contains(events, proto.EventRendered) {
		t.Errorf("mtsfarm watch printed no rendered and done events:\n%s", events)
	}

	out, err = e2eNATS(t, natsBin, server, "req", "--raw", proto.SubjectStatus, `{"job": "`+job.ID+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	var j proto.Job
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &j); err != nil {
		t.Fatalf("status reply %q: %v", out, err)
	}
	if j.ID != job.ID || j.State != proto.StateDone || !strings.HasPrefix(j.OutputKey, "outputs/Курс_1_-_") || j.OutputSize <= 0 {
		t.Fatalf("status of %s: %s, output %q (%d bytes); want done with an output", job.ID, j.State, j.OutputKey, j.OutputSize)
	}

	// Every role is a micro service too: the renderer's stats say what it
	// rendered, its info which encoders it has.
	ls, err = e2eNATS(t, natsBin, server, "micro", "ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"mtsfarm-renderer", "mtsfarm-fetcher", "mtsfarm-coordinator"} {
		if !strings.Contains(ls, svc) {
			t.Errorf("nats micro ls does not list %s:\n%s", svc, ls)
		}
	}
	if info, err := e2eNATS(t, natsBin, server, "micro", "info", "mtsfarm-renderer"); err != nil || !strings.Contains(info, "libx264") {
		t.Errorf("nats micro info mtsfarm-renderer shows no encoders (%v):\n%s", err, info)
	}
	stats, err := e2eNATS(t, natsBin, server, "micro", "stats", "mtsfarm-renderer", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"tasks_done":\s*1\b`).MatchString(stats) || !regexp.MustCompile(`"media_seconds":\s*8\b`).MatchString(stats) {
		t.Errorf("nats micro stats mtsfarm-renderer --json does not count the one rendered unit of 8 s:\n%s", stats)
	}

	file := filepath.Join(t.TempDir(), "lecture.mp4")
	code, stdout, stderr := e2eCommand(context.Background(), nil, "get", "--nats-url", server,
		"--store-dir", filepath.Join(f.dataDir, "store"), "-o", file, job.ID)
	if code != 0 || !strings.HasPrefix(stdout, file+"\t") {
		t.Fatalf("mtsfarm get exited %d: %s%s", code, stdout, stderr)
	}
	e2eCheckOutput(t, file, e2eExpect{duration: sc.Webinars[0].Duration, width: 640, height: 360, fps: 25,
		chunks: fake.Chunks(0), toneWindows: []float64{0.5, 3, 6.5},
		shots: []e2eShot{
			{at: 1, layout: proto.LayoutSingle, main: e2eRed, description: "the lecturer"},
			{at: 7, layout: proto.LayoutSingle, main: e2eRed, description: "the lecturer's last chunk"},
		}})
}
