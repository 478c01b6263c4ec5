package proto

import (
	"fmt"
	"time"
)

// The job record.

// JobState is the state of a job. The only transitions are
// queued → resolving → fetching → rendering → finalizing → done, and from any
// non-terminal state to failed or canceled; retry moves failed back to
// rendering (or fetching).
type JobState string

const (
	StateQueued     JobState = "queued"
	StateResolving  JobState = "resolving"
	StateFetching   JobState = "fetching"
	StateRendering  JobState = "rendering"
	StateFinalizing JobState = "finalizing"
	StateDone       JobState = "done"
	StateFailed     JobState = "failed"
	StateCanceled   JobState = "canceled"
)

// Known reports whether s is one of the job states.
func (s JobState) Known() bool {
	switch s {
	case StateQueued, StateResolving, StateFetching, StateRendering, StateFinalizing,
		StateDone, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Terminal reports whether no more work happens in state s.
func (s JobState) Terminal() bool {
	return s == StateDone || s == StateFailed || s == StateCanceled
}

// TaskState is the state of one fetch chunk or render unit of a job.
type TaskState string

const (
	TaskPending TaskState = "pending" // not yet published (inputs missing)
	TaskQueued  TaskState = "queued"  // published, waiting for a worker
	TaskRunning TaskState = "running" // a worker reported progress
	TaskDone    TaskState = "done"    // stored
	TaskInvalid TaskState = "invalid" // fetched but undecodable after retries: planned as absent
	TaskFailed  TaskState = "failed"  // gave up
)

// Failure is one failed attempt of a task, kept on the job record.
type Failure struct {
	Worker string    `json:"worker"`
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

// ChunkState is one fetch task of a job (a media chunk or a slide image).
type ChunkState struct {
	Index    int        `json:"index"`
	Kind     string     `json:"kind"`              // FetchMedia or FetchSlide
	Session  string     `json:"session,omitempty"` // media session id (FetchMedia)
	URL      string     `json:"url"`
	Key      string     `json:"key"`
	State    TaskState  `json:"state"`
	Attempts int        `json:"attempts,omitempty"`
	Worker   string     `json:"worker,omitempty"`
	Bytes    int64      `json:"bytes,omitempty"`
	Media    *MediaInfo `json:"media,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// UnitState is one render unit of a job.
type UnitState struct {
	Index      int       `json:"index"`
	Start      float64   `json:"start"`
	End        float64   `json:"end"`
	State      TaskState `json:"state"`
	Generation int       `json:"generation"`
	Attempts   int       `json:"attempts,omitempty"`
	Worker     string    `json:"worker,omitempty"`
	Encoder    string    `json:"encoder,omitempty"`
	VideoKey   string    `json:"video_key,omitempty"`
	AudioKey   string    `json:"audio_key,omitempty"`
	Rendered   float64   `json:"rendered,omitempty"` // seconds rendered so far
	Elapsed    float64   `json:"elapsed,omitempty"`  // seconds of work for the successful attempt
	Failures   []Failure `json:"failures,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Sig identifies what the unit was rendered from (sources, windows,
	// geometry, encoding): a retry that changes it renders the unit again.
	Sig string `json:"sig,omitempty"`
}

// Progress is a job's overall progress.
type Progress struct {
	Stage    string  `json:"stage,omitempty"`
	Fraction float64 `json:"fraction"` // 0..1 over the whole job
	// ETASeconds is the estimated time to done; 0 when unknown.
	ETASeconds float64 `json:"eta_seconds,omitempty"`
	BytesDone  int64   `json:"bytes_done,omitempty"`
	BytesTotal int64   `json:"bytes_total,omitempty"`
	// BytesPerSecond is the current download rate of a fetch task.
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
	// RenderedSeconds of the timeline over Duration.
	RenderedSeconds float64 `json:"rendered_seconds,omitempty"`
	// StageFraction is the fraction done of the stage a task is in (a
	// finalize step: probe, mix, mux, check), 0..1.
	StageFraction float64 `json:"stage_fraction,omitempty"`
}

// Job is the job record kept in KV BucketJobs under the job id, changed only
// by compare-and-set.
type Job struct {
	Type string  `json:"type"`
	ID   string  `json:"id"`
	Spec JobSpec `json:"spec"`
	// Recording identifies the recording (event session / record file),
	// used for idempotent submission.
	Recording string   `json:"recording"`
	State     JobState `json:"state"`
	// Generation increments on every retry; it is part of every task's
	// Nats-Msg-Id so retried tasks are not deduplicated.
	Generation int     `json:"generation"`
	Title      string  `json:"title,omitempty"`
	Duration   float64 `json:"duration,omitempty"`
	// Width × Height is the output size, frozen once one chunk of every
	// shown stream is probed; every unit is rendered at it.
	Width      int          `json:"width,omitempty"`
	Height     int          `json:"height,omitempty"`
	Chunks     []ChunkState `json:"chunks,omitempty"`
	Units      []UnitState  `json:"units,omitempty"`
	OutputKey  string       `json:"output_key,omitempty"`
	OutputSize int64        `json:"output_size,omitempty"`
	Error      string       `json:"error,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
	Progress   Progress     `json:"progress"`
	Created    time.Time    `json:"created"`
	Updated    time.Time    `json:"updated"`
	// Progressed is when a task of the job last reported a result (or the
	// job was created or retried); the reconciler fails a job whose last
	// progress is older than its stall timeout.
	Progressed time.Time `json:"progressed,omitzero"`
	Finished   time.Time `json:"finished,omitzero"`
	// Premixed says the audio-only voices were mixed while the units
	// rendered (coordinator/premix.go), not after the last unit.
	Premixed bool `json:"premixed,omitempty"`
	// RecheckUnits is set by a retry that fetches chunks again: once they
	// are all settled, every done unit whose inputs changed is rendered again.
	RecheckUnits bool `json:"recheck_units,omitempty"`
	// Swept is when the retention sweep deleted the job's units and audio
	// (its flow, plan and output stay); a retry then renders every unit.
	Swept time.Time `json:"swept,omitzero"`
	// Timings holds seconds spent per stage (resolve, fetch, render, finalize).
	Timings map[string]float64 `json:"timings,omitempty"`
}

func (Job) MessageType() string { return TypeJob }

func (j Job) Validate() error {
	if err := checkType(j.Type, TypeJob); err != nil {
		return err
	}
	if err := checkJobID(j.ID); err != nil {
		return err
	}
	if !j.State.Known() {
		return invalidf("unknown job state %q", j.State)
	}
	if err := j.Spec.Validate(); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nonNegative("duration", j.Duration)
}
