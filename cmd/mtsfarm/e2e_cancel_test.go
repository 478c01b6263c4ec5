package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// TestE2ECancelThenRetry cancels a job while it renders and retries it
// at once. Workers used to refuse every task of a job id they had seen
// canceled, for an hour and whatever its generation, so the retried job
// hung; now a cancel covers only the generation it names and the retry
// finishes with its output.
func TestE2ECancelThenRetry(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	fake := mtstest.Start(t, e2eScenario(t, "lecture-slides.json"))
	fm := e2eStartFarm(t, e2eFlags(t, fake.URL))
	job := e2eSubmit(t, fm.nc, proto.SubmitRequest{URL: fake.RecordingURL(0)})

	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	for rendering := false; !rendering; time.Sleep(100 * time.Millisecond) {
		var j proto.Job
		if err := apiRequest(ctx, fm.nc, proto.SubjectStatus, proto.JobRequest{Job: job.ID}, &j); err != nil {
			t.Fatalf("status: %v", err)
		}
		rendering = j.State == proto.StateRendering
		if j.State.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job %s is %s before a unit was seen rendering", j.ID, j.State)
		}
	}
	var canceled, retried proto.Job
	if err := apiRequest(ctx, fm.nc, proto.SubjectCancel, proto.JobRequest{Job: job.ID}, &canceled); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if canceled.State != proto.StateCanceled {
		t.Fatalf("after cancel the job is %s", canceled.State)
	}
	time.Sleep(time.Second) // the renderer hears the cancel and stops its ffmpeg
	if err := apiRequest(ctx, fm.nc, proto.SubjectRetry, proto.JobRequest{Job: job.ID}, &retried); err != nil {
		t.Fatalf("retry: %v", err)
	}
	j := e2eWait(t, fm.nc, job.ID, 3*time.Minute)
	if j.State != proto.StateDone {
		t.Fatalf("the retried job ended %s: %s", j.State, j.Error)
	}
	if j.Generation < 1 {
		t.Errorf("the retried job has generation %d, want a new one", j.Generation)
	}
	path, err := fm.store.Path(j.OutputKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("the retried job's output %s: %v", j.OutputKey, err)
	}
}
