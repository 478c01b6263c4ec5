package web

import (
	"path"
	"sort"

	"github.com/mtsfarm/mtsfarm/proto"
)

// The views are what the page sees of the farm's records: an explicit list
// of fields, every URL and message passed through proto.RedactURL.

// jobRow is one job of the list.
type jobRow struct {
	ID       string         `json:"id"`
	State    proto.JobState `json:"state"`
	Title    string         `json:"title"`
	Course   string         `json:"course,omitempty"`
	URL      string         `json:"url"`
	Duration float64        `json:"duration,omitempty"`
	Progress proto.Progress `json:"progress"`
	Warnings int            `json:"warnings,omitempty"`
	Error    string         `json:"error,omitempty"`
	Output   string         `json:"output,omitempty"`
	Created  string         `json:"created"`
	Updated  string         `json:"updated,omitempty"`
}

// jobSummary is the job API's list line (coordinator.JobSummary on the
// wire; decoded here without importing the coordinator).
type jobSummary struct {
	ID       string         `json:"id"`
	State    proto.JobState `json:"state"`
	Title    string         `json:"title"`
	URL      string         `json:"url"`
	Progress proto.Progress `json:"progress"`
	Output   string         `json:"output_key"`
	Error    string         `json:"error"`
	Created  string         `json:"created"`
	Course   string         `json:"course"`
	Duration float64        `json:"duration"`
	Warnings int            `json:"warnings"`
	Updated  string         `json:"updated"`
}

func rowOf(s jobSummary) jobRow {
	r := jobRow{ID: s.ID, State: s.State, Title: s.Title, Course: s.Course, URL: proto.RedactURL(s.URL),
		Duration: s.Duration, Progress: s.Progress, Warnings: s.Warnings, Error: proto.RedactURL(s.Error),
		Created: s.Created, Updated: s.Updated}
	if s.Output != "" {
		r.Output = path.Base(s.Output)
	}
	return r
}

// jobPage is one job with its units, a summary of its chunks and its plan.
type jobPage struct {
	jobRow
	Width      int                `json:"width,omitempty"`
	Height     int                `json:"height,omitempty"`
	OutputSize int64              `json:"output_size,omitempty"`
	Warnings   []string           `json:"warning_list,omitempty"`
	Finished   string             `json:"finished,omitempty"`
	Timings    map[string]float64 `json:"timings,omitempty"`
	Chunks     chunkCounts        `json:"chunks"`
	BadChunks  []chunkLine        `json:"bad_chunks,omitempty"`
	Units      []unitLine         `json:"units"`
	Plan       *planView          `json:"plan,omitempty"`
	PlanError  string             `json:"plan_error,omitempty"`
}

type chunkCounts struct {
	Total  int            `json:"total"`
	States map[string]int `json:"states"`
	Bytes  int64          `json:"bytes"`
}

// chunkLine is a chunk that failed or was found undecodable.
type chunkLine struct {
	Index    int    `json:"index"`
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
}

type unitLine struct {
	Index    int     `json:"index"`
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	State    string  `json:"state"`
	Worker   string  `json:"worker,omitempty"`
	Encoder  string  `json:"encoder,omitempty"`
	Rendered float64 `json:"rendered,omitempty"`
	Elapsed  float64 `json:"elapsed,omitempty"`
	Attempts int     `json:"attempts,omitempty"`
	Failures int     `json:"failures,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func pageOf(j *proto.Job) jobPage {
	p := jobPage{jobRow: jobRow{ID: j.ID, State: j.State, Title: j.Title, Course: j.Spec.Course,
		URL: proto.RedactURL(j.Spec.URL), Duration: j.Duration, Progress: j.Progress, Warnings: len(j.Warnings),
		Error: proto.RedactURL(j.Error), Created: stamp(j.Created.IsZero(), j.Created.Format(timeFormat)),
		Updated: stamp(j.Updated.IsZero(), j.Updated.Format(timeFormat))},
		Width: j.Width, Height: j.Height, OutputSize: j.OutputSize, Timings: j.Timings,
		Finished: stamp(j.Finished.IsZero(), j.Finished.Format(timeFormat)),
		Chunks:   chunkCounts{Total: len(j.Chunks), States: map[string]int{}}}
	if j.OutputKey != "" {
		p.Output = path.Base(j.OutputKey)
	}
	for _, w := range j.Warnings {
		p.Warnings = append(p.Warnings, proto.RedactURL(w))
	}
	for _, c := range j.Chunks {
		p.Chunks.States[string(c.State)]++
		p.Chunks.Bytes += c.Bytes
		if c.State == proto.TaskFailed || c.State == proto.TaskInvalid || c.Error != "" {
			p.BadChunks = append(p.BadChunks, chunkLine{Index: c.Index, Kind: c.Kind, State: string(c.State),
				Attempts: c.Attempts, Error: proto.RedactURL(c.Error)})
		}
	}
	for _, u := range j.Units {
		p.Units = append(p.Units, unitLine{Index: u.Index, Start: u.Start, End: u.End, State: string(u.State),
			Worker: u.Worker, Encoder: u.Encoder, Rendered: u.Rendered, Elapsed: u.Elapsed, Attempts: u.Attempts,
			Failures: len(u.Failures), Error: proto.RedactURL(u.Error)})
	}
	return p
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

func stamp(zero bool, s string) string {
	if zero {
		return ""
	}
	return s
}

// planView is what the timeline draws: the layout windows, the slide
// changes and the unit boundaries. No URL of the plan reaches the page.
type planView struct {
	Duration float64      `json:"duration"`
	Width    int          `json:"width"`
	Height   int          `json:"height"`
	Units    []planSpan   `json:"units"`
	Windows  []windowSpan `json:"windows"`
	Slides   []slideSpan  `json:"slides"`
	Voices   int          `json:"voices"` // audio-only tracks of the final mix
	Sources  int          `json:"sources"`
	Absent   int          `json:"absent"`
}

type planSpan struct {
	Index int     `json:"index"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

type windowSpan struct {
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Layout  string  `json:"layout"`
	Sources int     `json:"sources"`
	Slide   bool    `json:"slide,omitempty"`
}

type slideSpan struct {
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Number int     `json:"number,omitempty"`
}

// maxWindows bounds what the timeline receives: consecutive windows of one
// layout are merged first, and a plan with more than this is cut.
const maxWindows = 5000

func planViewOf(p *proto.Plan) *planView {
	v := &planView{Duration: p.Duration, Width: p.Width, Height: p.Height, Voices: len(p.AudioTracks),
		Sources: len(p.Sessions)}
	for _, s := range p.Sessions {
		if s.Absent {
			v.Absent++
		}
	}
	for _, u := range p.Units {
		v.Units = append(v.Units, planSpan{Index: u.Index, Start: u.Start, End: u.End})
		for _, w := range u.Windows {
			ws := windowSpan{Start: w.Start, End: w.End, Layout: w.Layout, Sources: len(w.Sources), Slide: w.Slide != ""}
			if n := len(v.Windows); n > 0 {
				last := &v.Windows[n-1]
				if last.Layout == ws.Layout && last.Sources == ws.Sources && last.Slide == ws.Slide && last.End == ws.Start {
					last.End = ws.End
					continue
				}
			}
			if len(v.Windows) < maxWindows {
				v.Windows = append(v.Windows, ws)
			}
		}
	}
	for _, s := range p.Slides {
		v.Slides = append(v.Slides, slideSpan{Start: s.Start, End: s.End, Number: s.Number})
	}
	sort.Slice(v.Slides, func(i, k int) bool { return v.Slides[i].Start < v.Slides[k].Start })
	return v
}

// workerRow is one worker's presence entry.
type workerRow struct {
	ID       string   `json:"id"`
	Host     string   `json:"host"`
	Roles    []string `json:"roles"`
	Encoders []string `json:"encoders,omitempty"`
	GPU      string   `json:"gpu,omitempty"`
	Slots    int      `json:"slots,omitempty"`
	Current  []string `json:"current,omitempty"`
	Version  string   `json:"version,omitempty"`
	Started  string   `json:"started"`
	Seen     string   `json:"seen"`
	// From the worker's stats: media seconds per second of its last unit,
	// tasks done and failed, and its last failure in words.
	Speed       float64 `json:"speed,omitempty"`
	Done        int64   `json:"done"`
	Failed      int64   `json:"failed"`
	LastFailure string  `json:"last_failure,omitempty"`
}

func workerOf(w proto.WorkerInfo) workerRow {
	r := workerRow{ID: w.ID, Host: w.Host, Roles: w.Roles, Encoders: w.Encoders, GPU: w.GPU, Slots: w.Slots,
		Current: w.Current, Version: w.Version, Started: w.Started.Format(timeFormat), Seen: w.Seen.Format(timeFormat)}
	if s := w.Stats; s != nil {
		r.Speed, r.Done, r.Failed, r.LastFailure = s.Speed, s.Done, s.Failed, proto.RedactURL(s.LastFailure)
	}
	return r
}

// eventView is one job event as the page gets it.
type eventView struct {
	Job      string          `json:"job"`
	Kind     string          `json:"kind"`
	State    proto.JobState  `json:"state,omitempty"`
	Message  string          `json:"message,omitempty"`
	Task     string          `json:"task,omitempty"`
	Index    int             `json:"index,omitempty"`
	Worker   string          `json:"worker,omitempty"`
	Progress *proto.Progress `json:"progress,omitempty"`
	Time     string          `json:"time"`
}

func eventOf(e proto.Event) eventView {
	return eventView{Job: e.Job, Kind: e.Kind, State: e.State, Message: proto.RedactURL(e.Message), Task: e.Task,
		Index: e.Index, Worker: e.Worker, Progress: e.Progress, Time: e.Time.Format(timeFormat)}
}
