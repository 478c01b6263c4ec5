package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// TestE2EFaultyChunks renders testdata/e2e-faults.json: the admin's webcam
// has a chunk that arrives corrupt once (fetched again, used), the student's
// webcam has a chunk that is gone (404). The job still finishes: the missing
// student is absent from 0 to 6 s (the admin alone fills the frame, the
// student's tone is not heard), present from 6 s as picture-in-picture; the
// job carries a warning that says which source was left out, and `mtsfarm
// status` shows it.
func TestE2EFaultyChunks(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "testdata/e2e-faults.json")
	fake := mtstest.Start(t, sc)
	var corrupt, missing mtstest.Chunk
	for _, c := range fake.Chunks(0) {
		if slices.Contains(c.Faults, mtstest.FaultCorruptOnce) {
			corrupt = c
		}
		if slices.Contains(c.Faults, mtstest.FaultMissing) {
			missing = c
		}
	}
	if corrupt.Path == "" || missing.Path == "" {
		t.Fatalf("the scenario lost its faults: %+v", fake.Chunks(0))
	}
	f := e2eFlags(t, fake.URL)
	fm := e2eStartFarm(t, f)
	job := e2eSubmit(t, fm.nc, proto.SubmitRequest{URL: fake.RecordingURL(0)})
	j := e2eWait(t, fm.nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone {
		t.Fatalf("job %s ended %s: %s (warnings %q)", j.ID, j.State, j.Error, j.Warnings)
	}

	// The corrupt chunk was fetched again and used; the missing one is
	// recorded as failed, with a warning naming its session.
	if n := fake.Hits(corrupt.Path); n < 2 {
		t.Errorf("the corrupt-once chunk was requested %d times; want it fetched again", n)
	}
	var sawCorrupt, sawMissing bool
	for _, c := range j.Chunks {
		switch c.URL {
		case corrupt.URL:
			sawCorrupt = true
			if c.State != proto.TaskDone {
				t.Errorf("corrupt-once chunk is %s (%s), want done", c.State, c.Error)
			}
		case missing.URL:
			sawMissing = true
			if c.State != proto.TaskFailed && c.State != proto.TaskInvalid {
				t.Errorf("missing chunk is %s, want failed", c.State)
			}
		default:
			if c.State != proto.TaskDone {
				t.Errorf("chunk %d (%s) is %s: %s", c.Index, c.URL, c.State, c.Error)
			}
		}
	}
	if !sawCorrupt || !sawMissing {
		t.Fatalf("the job's chunks %+v do not list both faulty chunks", j.Chunks)
	}
	var warning string
	for _, w := range j.Warnings {
		if strings.Contains(w, missing.SessionID) {
			warning = w
		}
	}
	if warning == "" || !strings.Contains(warning, "left out") {
		t.Errorf("job warnings %q: want one saying media session %s is left out", j.Warnings, missing.SessionID)
	}
	for _, w := range j.Warnings {
		if strings.Contains(w, corrupt.SessionID) {
			t.Errorf("warning about the corrupt-once chunk, which was fetched again fine: %q", w)
		}
	}

	// mtsfarm status shows the warning.
	code, stdout, stderr := e2eCommand(context.Background(), nil, "status", "--nats-url", fm.emb.ClientURL(), job.ID)
	if code != 0 {
		t.Fatalf("mtsfarm status exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "state     done") || !strings.Contains(stdout, "warning   "+warning) {
		t.Errorf("mtsfarm status shows:\n%s\nwant state done and the warning %q", stdout, warning)
	}

	out := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := fm.store.GetFile(context.Background(), j.OutputKey, out); err != nil {
		t.Fatal(err)
	}
	e2eCheckOutput(t, out, e2eExpect{duration: 12, width: 640, height: 360, fps: 25, chunks: fake.Chunks(0),
		shots: []e2eShot{
			{at: 2, layout: proto.LayoutSingle, main: e2eRed, description: "the student's first chunk is missing: the admin alone"},
			{at: 4.5, layout: proto.LayoutSingle, main: e2eRed, description: "still without the student"},
			{at: 7, layout: proto.LayoutPresenter, main: e2eRed, pip: e2eGreen, description: "the admin's corrupt-once chunk, the student back"},
			{at: 11, layout: proto.LayoutPresenter, main: e2eRed, pip: e2eGreen, description: "near the end"},
		},
		toneWindows: []float64{1, 4, 7, 10.5},
	})
}
