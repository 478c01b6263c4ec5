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

// TestE2ERetryRefetchesLostChunks renders testdata/e2e-refetch.json, whose
// student webcam chunk 0 (0-6 s) is 404 on the first request and served
// after (a CDN catching up). The job ends done with the student left out
// of 0-6 s and a warning; `mtsfarm retry` of the done job fetches that
// chunk again, renders again only the unit it changes (0-10 s; the 10-20 s
// unit is kept), and the output then shows the student from the start.
// Before, retry refused done jobs and a lost chunk stayed lost.
func TestE2ERetryRefetchesLostChunks(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "testdata/e2e-refetch.json")
	fake := mtstest.Start(t, sc)
	var lost mtstest.Chunk
	for _, c := range fake.Chunks(0) {
		if slices.Contains(c.Faults, mtstest.FaultMissingOnce) {
			lost = c
		}
	}
	if lost.Path == "" {
		t.Fatalf("the scenario lost its fault: %+v", fake.Chunks(0))
	}
	fm := e2eStartFarm(t, e2eFlags(t, fake.URL))
	job := e2eSubmit(t, fm.nc, proto.SubmitRequest{URL: fake.RecordingURL(0), UnitSeconds: 10})
	j := e2eWait(t, fm.nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone || len(j.Units) != 2 {
		t.Fatalf("job %s ended %s with %d units: %s", j.ID, j.State, len(j.Units), j.Error)
	}
	if !slices.ContainsFunc(j.Warnings, func(w string) bool { return strings.Contains(w, lost.SessionID) }) {
		t.Fatalf("warnings %q: want one saying session %s was left out", j.Warnings, lost.SessionID)
	}
	// The first output: the student absent from 0 to 6 s.
	absent := slices.Clone(fake.Chunks(0))
	for i := range absent {
		if absent[i].Path == lost.Path {
			absent[i].Faults = []string{mtstest.FaultMissing}
		}
	}
	check := func(name string, chunks []mtstest.Chunk, shots []e2eShot) {
		t.Helper()
		var cur proto.Job
		if err := apiRequest(context.Background(), fm.nc, proto.SubjectStatus, proto.JobRequest{Job: job.ID}, &cur); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), name)
		if _, err := fm.store.GetFile(context.Background(), cur.OutputKey, out); err != nil {
			t.Fatal(err)
		}
		e2eCheckOutput(t, out, e2eExpect{duration: 20, width: 640, height: 360, fps: 25, chunks: chunks,
			shots: shots, toneWindows: []float64{2, 4.5, 8, 15}})
	}
	check("before.mp4", absent, []e2eShot{
		{at: 2, layout: proto.LayoutSingle, main: e2eRed, description: "the student's first chunk was not served: the admin alone"},
		{at: 8, layout: proto.LayoutPresenter, main: e2eRed, pip: e2eGreen, description: "the student from 6 s"},
	})
	before := j.Units

	code, stdout, stderr := e2eCommand(context.Background(), nil, "retry", "--nats-url", fm.emb.ClientURL(), job.ID)
	if code != 0 {
		t.Fatalf("mtsfarm retry of the done job exited %d: %s %s", code, stdout, stderr)
	}
	j = e2eWait(t, fm.nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone {
		t.Fatalf("after the retry the job ended %s: %s", j.State, j.Error)
	}
	for _, c := range j.Chunks {
		if c.State != proto.TaskDone {
			t.Errorf("after the retry chunk %d (%s) is %s: %s", c.Index, c.URL, c.State, c.Error)
		}
	}
	if slices.ContainsFunc(j.Warnings, func(w string) bool { return strings.Contains(w, lost.SessionID) }) {
		t.Errorf("after the retry the warnings still say session %s is left out: %q", lost.SessionID, j.Warnings)
	}
	if j.Units[0].Generation <= before[0].Generation || j.Units[0].VideoKey == before[0].VideoKey {
		t.Errorf("unit 0 (the lost chunk's) was not rendered again: generation %d → %d", before[0].Generation, j.Units[0].Generation)
	}
	if j.Units[1].Generation != before[1].Generation || j.Units[1].VideoKey != before[1].VideoKey {
		t.Errorf("unit 1 (10-20 s, unchanged) was rendered again: generation %d → %d", before[1].Generation, j.Units[1].Generation)
	}
	check("after.mp4", fake.Chunks(0), []e2eShot{
		{at: 2, layout: proto.LayoutPresenter, main: e2eRed, pip: e2eGreen, description: "the student from the start after the retry"},
		{at: 15, layout: proto.LayoutPresenter, main: e2eRed, pip: e2eGreen, description: "the kept unit"},
	})
}

// TestE2EPremix renders the bundled audio-40 scenario (a webcam and 40
// audio-only listeners) through the embedded farm: the coordinator mixes
// the 40 voices while the unit renders (the job record says premixed), and
// the output has every voice where it belongs and nothing else.
func TestE2EPremix(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	var c e2eScenarioCase
	for _, sc := range e2eScenarioCases() {
		if sc.file == "audio-40.json" {
			c = sc
		}
	}
	if c.file == "" {
		t.Fatal("no audio-40 case in e2eScenarioCases")
	}
	sc := e2eScenario(t, c.file)
	fake := mtstest.Start(t, sc)
	fm := e2eStartFarm(t, e2eFlags(t, fake.URL))
	job := e2eSubmit(t, fm.nc, proto.SubmitRequest{URL: fake.RecordingURL(0)})
	j := e2eWait(t, fm.nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone {
		t.Fatalf("job %s ended %s: %s", j.ID, j.State, j.Error)
	}
	if !j.Premixed {
		t.Error("the job's audio-only voices were not premixed while its unit rendered")
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := fm.store.GetFile(context.Background(), j.OutputKey, out); err != nil {
		t.Fatal(err)
	}
	e2eCheckOutput(t, out, e2eExpect{duration: sc.Webinars[0].Duration, width: c.width, height: c.height,
		fps: 25, shots: c.shots, toneWindows: c.toneWindows, chunks: fake.Chunks(0)})
}
