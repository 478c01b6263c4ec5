package coordinator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

// This file is the job state machine, pure: it reads a job record and its
// current plan and decides what to publish next, changing task states in the
// record. The service (results.go, output.go) publishes what it returns,
// then writes the record with compare-and-set. Every publish carries a
// Nats-Msg-Id derived from (job, kind, index, generation), so running the
// same step twice after a crash publishes nothing twice.

// outbox is what one reconcile step wants published.
type outbox struct {
	fetch    []proto.FetchTask
	units    []proto.RenderUnit
	finalize *proto.FinalizeTask
}

func (o outbox) empty() bool { return len(o.fetch) == 0 && len(o.units) == 0 && o.finalize == nil }

// settled reports whether a fetch chunk needs no more work.
func settled(s proto.TaskState) bool {
	return s == proto.TaskDone || s == proto.TaskInvalid || s == proto.TaskFailed
}

// resolveTask is the first task of every job: fetch its flow.
func resolveTask(j *proto.Job) proto.FetchTask {
	return proto.FetchTask{Type: proto.TypeFetchTask, Job: j.ID, Kind: proto.FetchResolve, Index: 0,
		Generation: j.Generation, URL: j.Spec.URL, Key: proto.FlowKey(j.ID), SessionCookie: j.Spec.SessionCookie}
}

// urlExt is the lower-case extension of a URL's path, or def.
func urlExt(raw, def string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return def
	}
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(u.Path)), ".")
	if ext == "" || len(ext) > 5 {
		return def
	}
	return ext
}

// buildChunks lists the fetch tasks of a plan: one per media session and one
// per distinct slide image. The first chunk of every stream comes first, so
// each stream's picture size is known early; then the rest in timeline order.
func buildChunks(p *proto.Plan) []proto.ChunkState {
	sessions := append([]proto.PlanSession(nil), p.Sessions...)
	sort.SliceStable(sessions, func(a, b int) bool { return sessions[a].Start < sessions[b].Start })
	var first, rest []proto.PlanSession
	seenStream := map[string]bool{}
	for _, s := range sessions {
		if s.Stream != "" && !seenStream[s.Stream] {
			seenStream[s.Stream] = true
			first = append(first, s)
		} else if s.Stream == "" {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	var chunks []proto.ChunkState
	seenURL := map[string]bool{}
	for _, s := range append(first, rest...) {
		if seenURL[s.URL] {
			continue // one object per URL (spec §4.1 collisions)
		}
		seenURL[s.URL] = true
		chunks = append(chunks, proto.ChunkState{Index: len(chunks), Kind: proto.FetchMedia, Session: s.ID,
			URL: s.URL, Key: proto.MediaKey(s.URL, urlExt(s.URL, "mp4")), State: proto.TaskPending})
	}
	for _, sl := range p.Slides {
		if sl.URL == "" || seenURL[sl.URL] {
			continue
		}
		seenURL[sl.URL] = true
		chunks = append(chunks, proto.ChunkState{Index: len(chunks), Kind: proto.FetchSlide, URL: sl.URL,
			Key: proto.SlideKey(sl.URL, urlExt(sl.URL, "jpg")), State: proto.TaskPending})
	}
	return chunks
}

// chunkByURL indexes a job's chunks by source URL.
func chunkByURL(j *proto.Job) map[string]*proto.ChunkState {
	m := make(map[string]*proto.ChunkState, len(j.Chunks))
	for i := range j.Chunks {
		m[j.Chunks[i].URL] = &j.Chunks[i]
	}
	return m
}

// probesOf returns what the planner needs from the fetched chunks: the probe
// of every stored media session and the reason of every absent one.
func probesOf(j *proto.Job, p *proto.Plan) (map[string]proto.MediaInfo, map[string]string) {
	probes := map[string]proto.MediaInfo{}
	absent := map[string]string{}
	byURL := chunkByURL(j)
	for _, s := range p.Sessions {
		c := byURL[s.URL]
		if c == nil {
			continue
		}
		switch c.State {
		case proto.TaskDone:
			if c.Media != nil {
				probes[s.ID] = *c.Media
			}
		case proto.TaskInvalid, proto.TaskFailed:
			absent[s.ID] = c.Error
		}
	}
	return probes, absent
}

// absentSlides returns the slide URLs that could not be fetched.
func absentSlides(j *proto.Job) map[string]string {
	m := map[string]string{}
	for _, c := range j.Chunks {
		if c.Kind == proto.FetchSlide && (c.State == proto.TaskInvalid || c.State == proto.TaskFailed) {
			m[c.URL] = c.Error
		}
	}
	return m
}

// geometryFinal reports whether the output size can no longer change, so
// units may render: every unit of a job must have the same size to join by
// stream copy. The planner knows it once every shown chunk is probed, or
// once the coordinator froze the size (geometry_freeze.go).
func geometryFinal(p *proto.Plan) bool { return p.GeometryKnown }

// unitReady reports whether every input of a plan unit is settled.
func unitReady(j *proto.Job, p *proto.Plan, u proto.PlanUnit) bool {
	byURL := chunkByURL(j)
	url := sessionURLs(p)
	for _, in := range u.Inputs {
		if c := byURL[url[in.Session]]; c != nil && !settled(c.State) {
			return false
		}
	}
	for _, w := range u.Windows {
		if w.Slide == "" {
			continue
		}
		if c := byURL[w.Slide]; c != nil && !settled(c.State) {
			return false
		}
	}
	return true
}

func sessionURLs(p *proto.Plan) map[string]string {
	m := make(map[string]string, len(p.Sessions))
	for _, s := range p.Sessions {
		m[s.ID] = s.URL
	}
	return m
}

// dispatchConfig is what the coordinator adds to a plan unit to make a
// self-contained render unit.
type dispatchConfig struct {
	Encoding proto.Encoding
}

// renderUnit turns unit i of the plan into the message a renderer executes:
// source keys and probe data from the job's chunks, unit-relative times, the
// slide images as sources of their own.
func renderUnit(j *proto.Job, p *proto.Plan, i int, cfg dispatchConfig) (proto.RenderUnit, error) {
	pu := p.Units[i]
	us := j.Units[i]
	byURL := chunkByURL(j)
	sessions := make(map[string]proto.PlanSession, len(p.Sessions))
	for _, s := range p.Sessions {
		sessions[s.ID] = s
	}
	ru := proto.RenderUnit{Type: proto.TypeRenderUnit, Job: j.ID, Index: i, Generation: us.Generation, JobGeneration: j.Generation,
		Start: pu.Start, End: pu.End, Width: p.Width, Height: p.Height, FPS: p.FPS, Encoding: cfg.Encoding,
		VideoKey: proto.UnitVideoKey(j.ID, i, us.Generation), AudioKey: proto.UnitAudioKey(j.ID, i, us.Generation),
		ExcludeWorkers: excludedWorkers(j)}
	rel := func(t float64) float64 { return roundTime(math.Max(0, t-pu.Start)) }
	for _, in := range pu.Inputs {
		s, ok := sessions[in.Session]
		c := byURL[s.URL]
		if !ok || c == nil || c.State != proto.TaskDone {
			continue // absent: the plan does not show or hear it
		}
		src := proto.UnitSource{ID: s.ID, Kind: s.Kind, Key: c.Key, Offset: roundTime(in.Offset), At: rel(in.At),
			Duration: roundTime(in.Duration), HasVideo: s.HasVideo, HasAudio: s.HasAudio, Width: s.Width, Height: s.Height}
		if c.Media != nil {
			src.HasVideo = src.HasVideo && c.Media.HasVideo
			src.HasAudio = src.HasAudio && c.Media.HasAudio
			src.Width, src.Height, src.SampleRate = c.Media.Width, c.Media.Height, c.Media.SampleRate
		}
		if s.Kind == proto.SourceAudio {
			src.HasVideo = false
		}
		ru.Sources = append(ru.Sources, src)
	}
	slideIDs := map[string]string{}
	for _, w := range pu.Windows {
		uw := proto.UnitWindow{Start: rel(w.Start), End: rel(w.End), Layout: w.Layout, Main: w.Main, Pip: w.Pip,
			Column: w.Column, Grid: w.Grid, Audio: w.Audio}
		if w.Slide != "" {
			id, ok := slideIDs[w.Slide]
			if !ok {
				c := byURL[w.Slide]
				if c == nil || c.State != proto.TaskDone {
					return proto.RenderUnit{}, fmt.Errorf("unit %d shows slide %s, which is not stored", i, w.Slide)
				}
				id = fmt.Sprintf("slide-%d", c.Index)
				slideIDs[w.Slide] = id
				ru.Sources = append(ru.Sources, proto.UnitSource{ID: id, Kind: proto.SourceSlide, Key: c.Key,
					Duration: roundTime(pu.End - pu.Start), HasVideo: true})
			}
			uw.Slide = id
		}
		ru.Windows = append(ru.Windows, uw)
	}
	if n := len(ru.Windows); n > 0 {
		ru.Windows[0].Start = 0
		ru.Windows[n-1].End = roundTime(pu.End - pu.Start)
	}
	if err := ru.Validate(); err != nil {
		return proto.RenderUnit{}, fmt.Errorf("building render unit %d: %w", i, err)
	}
	return ru, nil
}

// roundTime rounds to microseconds so relative times computed by
// subtraction tile exactly.
func roundTime(t float64) float64 { return math.Round(t*1e6) / 1e6 }

// excludedWorkers are the renderers that failed units of this job twice: they
// get no more units of it.
func excludedWorkers(j *proto.Job) []string {
	count := map[string]int{}
	for _, u := range j.Units {
		for _, f := range u.Failures {
			count[f.Worker]++
		}
	}
	var out []string
	for w, n := range count {
		if n >= 2 {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// reconcile decides what to publish for a job given its current plan (nil
// before the flow is resolved) and updates the record's task and job states
// to match. Tasks move pending → queued when published. With resume set
// (a coordinator starting up), queued tasks are published again too: their
// message ids are the same, so the streams drop the ones they already hold.
func reconcile(j *proto.Job, p *proto.Plan, cfg dispatchConfig, resume bool) (outbox, error) {
	var out outbox
	switch j.State {
	case proto.StateDone, proto.StateFailed, proto.StateCanceled:
		return out, nil
	case proto.StateQueued, proto.StateResolving:
		j.State = proto.StateResolving
		out.fetch = append(out.fetch, resolveTask(j))
		return out, nil
	}
	if p == nil {
		return out, fmt.Errorf("job %s is %s but has no plan", j.ID, j.State)
	}
	allFetched := true
	for i := range j.Chunks {
		c := &j.Chunks[i]
		if settled(c.State) {
			continue
		}
		allFetched = false
		if c.State == proto.TaskPending || resume {
			c.State = proto.TaskQueued
			out.fetch = append(out.fetch, proto.FetchTask{Type: proto.TypeFetchTask, Job: j.ID, Kind: c.Kind,
				Index: c.Index, Generation: j.Generation, URL: c.URL, Key: c.Key, Session: c.Session})
		}
	}
	geometry := geometryFinal(p)
	if j.RecheckUnits && allFetched && geometry {
		// A retry fetched chunks again: render again every done unit
		// whose inputs that changed.
		for i := range j.Units {
			u := &j.Units[i]
			if u.State != proto.TaskDone || i >= len(p.Units) || !unitReady(j, p, p.Units[i]) {
				continue
			}
			ru, err := renderUnit(j, p, i, cfg)
			if err != nil {
				return out, err
			}
			if unitSig(ru) != u.Sig {
				u.State, u.Generation, u.VideoKey, u.AudioKey, u.Rendered = proto.TaskPending, u.Generation+1, "", "", 0
			}
		}
		j.RecheckUnits = false
	}
	allDone := true
	for i := range j.Units {
		u := &j.Units[i]
		if u.State == proto.TaskDone {
			continue
		}
		allDone = false
		if u.State == proto.TaskFailed || !geometry || i >= len(p.Units) || !unitReady(j, p, p.Units[i]) {
			continue
		}
		if u.State != proto.TaskPending && !resume {
			continue
		}
		ru, err := renderUnit(j, p, i, cfg)
		if err != nil {
			return out, err
		}
		if u.State == proto.TaskPending {
			u.State = proto.TaskQueued
		}
		u.Sig = unitSig(ru)
		out.units = append(out.units, ru)
	}
	switch {
	case allDone && len(j.Units) > 0 && !j.RecheckUnits: // (a recheck waits for its chunks)
		if j.State != proto.StateFinalizing || resume {
			out.finalize = &proto.FinalizeTask{Type: proto.TypeFinalizeTask, Job: j.ID, Generation: j.Generation}
		}
		j.State = proto.StateFinalizing
	case allFetched:
		j.State = proto.StateRendering
	default:
		j.State = proto.StateFetching
	}
	return out, nil
}

// progress recomputes a job's overall progress: resolving counts 2%,
// fetching 28% (by chunks settled), rendering 60% (by unit seconds done),
// finalizing 10%. The ETA extrapolates the time spent so far.
func progress(j *proto.Job, now time.Time) proto.Progress {
	pr := proto.Progress{Stage: string(j.State), BytesDone: 0}
	var fetchFrac, renderFrac float64
	if n := len(j.Chunks); n > 0 {
		done := 0
		for _, c := range j.Chunks {
			pr.BytesDone += c.Bytes
			if settled(c.State) {
				done++
			}
		}
		fetchFrac = float64(done) / float64(n)
	}
	if j.Duration > 0 {
		for _, u := range j.Units {
			if u.State == proto.TaskDone {
				pr.RenderedSeconds += u.End - u.Start
			}
		}
		renderFrac = math.Min(1, pr.RenderedSeconds/j.Duration)
	}
	switch j.State {
	case proto.StateQueued:
		pr.Fraction = 0
	case proto.StateResolving:
		pr.Fraction = 0.01
	case proto.StateFetching, proto.StateRendering:
		pr.Fraction = 0.02 + 0.28*fetchFrac + 0.6*renderFrac
	case proto.StateFinalizing:
		pr.Fraction = 0.9
	case proto.StateDone:
		pr.Fraction = 1
	default:
		pr.Fraction = j.Progress.Fraction
	}
	if el := now.Sub(j.Created).Seconds(); pr.Fraction >= 0.05 && pr.Fraction < 1 && el > 0 {
		pr.ETASeconds = math.Round(el * (1 - pr.Fraction) / pr.Fraction)
	}
	return pr
}

// unitSig identifies what a unit is rendered from: its span, geometry,
// encoding, sources and windows, not its generation, keys or the workers
// it excludes.
func unitSig(u proto.RenderUnit) string {
	b, _ := json.Marshal(struct {
		Start, End         float64
		Width, Height, FPS int
		Encoding           proto.Encoding
		Sources            []proto.UnitSource
		Windows            []proto.UnitWindow
	}{u.Start, u.End, u.Width, u.Height, u.FPS, u.Encoding, u.Sources, u.Windows})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
