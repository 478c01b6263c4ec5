package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// apiError is an error with the status code the API answers with.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{code: 400, msg: fmt.Sprintf(format, args...)}
}

// startService registers the micro service "mtsfarm" with its endpoints
// mtsfarm.api.submit|status|list|cancel|retry.
func (c *Coordinator) startService(ctx context.Context) (micro.Service, error) {
	svc, err := micro.AddService(c.nc, micro.Config{
		Name: proto.ServiceName, Version: proto.ServiceVersion,
		Description: "mtsfarm job API: submit MTS Link recordings, follow and manage jobs",
		Metadata:    map[string]string{"worker": c.cfg.WorkerID},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the %s micro service: %w", proto.ServiceName, err)
	}
	g := svc.AddGroup(proto.SubjectAPI)
	endpoints := []struct {
		name string
		fn   func(context.Context, []byte) (any, error)
		desc string
	}{
		{"submit", c.apiSubmit, `submit {"url": "…"} or {"urls": […]}; answers the job ids`},
		{"status", c.apiStatus, `one job {"job": "<id>"}, or every job`},
		{"list", c.apiList, `job summaries, newest first {"state": "failed", "limit": 20}`},
		{"cancel", c.apiCancel, `cancel {"job": "<id>"}`},
		{"retry", c.apiRetry, `retry the failed parts of {"job": "<id>"}`},
		{"priority", c.apiPriority, `set the priority of {"job": "<id>", "priority": 1} (> 0 high, 0 normal, < 0 low lane)`},
		{"plan", c.apiPlan, `the current plan of {"job": "<id>"} (layout windows, units, slides; URLs redacted)`},
	}
	for _, e := range endpoints {
		fn := e.fn
		h := micro.ContextHandler(ctx, func(ctx context.Context, req micro.Request) { c.respond(ctx, req, fn) })
		if err := g.AddEndpoint(e.name, h, micro.WithEndpointMetadata(map[string]string{"description": e.desc})); err != nil {
			svc.Stop()
			return nil, fmt.Errorf("adding endpoint %s: %w", e.name, err)
		}
	}
	return svc, nil
}

func (c *Coordinator) respond(ctx context.Context, req micro.Request, fn func(context.Context, []byte) (any, error)) {
	reply, err := fn(ctx, req.Data())
	if err != nil {
		code := 500
		var ae *apiError
		switch {
		case errors.As(err, &ae):
			code = ae.code
		case errors.Is(err, ErrJobNotFound):
			code = 404
		}
		body, _ := json.Marshal(proto.APIError{Type: proto.TypeAPIError, Code: code, Error: err.Error()})
		if rerr := req.Error(fmt.Sprint(code), err.Error(), body); rerr != nil {
			c.log.Warn().Err(rerr).Msg("answering an API request")
		}
		return
	}
	if err := req.RespondJSON(reply); err != nil {
		c.log.Warn().Err(err).Msg("answering an API request")
	}
}

// decodeStrict decodes a request body into v, rejecting unknown fields and
// wrong types with a message that names the field.
func decodeStrict(data []byte, v any, example string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("empty request: send JSON such as %s", example)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return badRequest("trailing data after the JSON object: send one object such as %s", example)
		}
		var extra any
		if dec.Decode(&extra) != io.EOF {
			return badRequest("trailing data after the JSON object: send one object such as %s", example)
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return badRequest("field %q must be %s, got %s: send JSON such as %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value, example)
	case errors.As(err, &se):
		return badRequest("not valid JSON (%v): send JSON such as %s", se, example)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return badRequest("%s: the known fields are in the README; send JSON such as %s", strings.TrimPrefix(err.Error(), "json: "), example)
	}
	return badRequest("reading the request: %v; send JSON such as %s", err, example)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

const submitExample = `{"url": "https://my.mts-link.ru/1/2/record-new/3/record-file/4"}`

func (c *Coordinator) apiSubmit(ctx context.Context, data []byte) (any, error) {
	var req proto.SubmitRequest
	if err := decodeStrict(data, &req, submitExample); err != nil {
		return nil, err
	}
	return c.Submit(ctx, req)
}

// Submit validates a submission and creates (or finds) one job per URL.
// Every URL is checked before anything is created: a request with one bad
// URL creates nothing.
func (c *Coordinator) Submit(ctx context.Context, req proto.SubmitRequest) (proto.SubmitReply, error) {
	if err := req.Validate(); err != nil {
		return proto.SubmitReply{}, badRequest("%s", strings.TrimPrefix(err.Error(), proto.ErrInvalid.Error()+": "))
	}
	if req.SessionCookie != "" {
		// The fetcher would refuse it later; say so now, before a job exists.
		if _, err := mts.CleanCookie(req.SessionCookie); err != nil {
			return proto.SubmitReply{}, badRequest("session_cookie: %v", err)
		}
	}
	specs := req.Specs()
	recs := make([]mts.Recording, len(specs))
	for i, s := range specs {
		rec, err := c.parser.Parse(s.URL)
		if err != nil {
			return proto.SubmitReply{}, badRequest("url %d: %v", i+1, err)
		}
		recs[i] = rec
		specs[i].URL = rec.URL
	}
	reply := proto.SubmitReply{Type: proto.TypeSubmitReply}
	for i, s := range specs {
		sj, err := c.createJob(ctx, s, recs[i])
		if err != nil {
			return reply, err
		}
		reply.Jobs = append(reply.Jobs, sj)
	}
	return reply, nil
}

func recordingKey(r mts.Recording) string {
	return r.Base + "|" + r.EventSessionID + "|" + r.RecordFileID
}

func (c *Coordinator) createJob(ctx context.Context, s proto.JobSpec, rec mts.Recording) (proto.SubmittedJob, error) {
	id := newJobID()
	ident := identity(recordingKey(rec), s)
	if s.Force {
		if err := c.jobs.setIndex(ctx, ident, id); err != nil {
			return proto.SubmittedJob{}, err
		}
	} else {
		holder, err := c.jobs.claimIndex(ctx, ident, id)
		if err != nil {
			return proto.SubmittedJob{}, err
		}
		if holder != id {
			j, _, err := c.jobs.get(ctx, holder)
			if err == nil {
				if s.SessionCookie != "" && j.State == proto.StateFailed && j.Spec.SessionCookie == "" {
					c.log.Info().Str("job_id", j.ID).Msg("submission repeats a failed job; retry it with `mtsfarm retry`")
				}
				return proto.SubmittedJob{ID: j.ID, URL: j.Spec.URL, Existing: true, State: j.State}, nil
			}
			if !errors.Is(err, ErrJobNotFound) {
				return proto.SubmittedJob{}, err
			}
			id = holder // claimed by a submit that died before creating the record
		}
	}
	now := c.now().UTC()
	j := &proto.Job{Type: proto.TypeJob, ID: id, Spec: s, Recording: recordingKey(rec), State: proto.StateQueued,
		Created: now, Updated: now}
	if err := c.jobs.create(ctx, j); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return proto.SubmittedJob{}, err
	}
	c.event(ctx, proto.Event{Job: id, Kind: proto.EventState, State: proto.StateQueued, Message: "submitted " + rec.Redacted()})
	jj, err := c.advance(ctx, id, nil, false)
	if err != nil {
		return proto.SubmittedJob{}, err
	}
	c.log.Info().Str("job_id", id).Str("url", rec.Redacted()).Msg("job submitted")
	return proto.SubmittedJob{ID: id, URL: s.URL, State: jj.State}, nil
}

func (c *Coordinator) decodeJobRequest(data []byte, needJob bool) (proto.JobRequest, error) {
	var req proto.JobRequest
	if len(bytes.TrimSpace(data)) > 0 || needJob {
		if err := decodeStrict(data, &req, `{"job": "<id>"}`); err != nil {
			return req, err
		}
	}
	if err := req.Validate(); err != nil {
		return req, badRequest("%s", strings.TrimPrefix(err.Error(), proto.ErrInvalid.Error()+": "))
	}
	if needJob && req.Job == "" {
		return req, badRequest(`give the job id: {"job": "<id>"}`)
	}
	return req, nil
}

// publicJob is a job record as the API shows it: without the cookie.
func publicJob(j *proto.Job) *proto.Job {
	cp := *j
	cp.Spec = j.Spec.Redacted()
	return &cp
}

func (c *Coordinator) apiStatus(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, false)
	if err != nil {
		return nil, err
	}
	if req.Job != "" {
		j, _, err := c.jobs.get(ctx, req.Job)
		if err != nil {
			return nil, err
		}
		return publicJob(j), nil
	}
	jobs, err := c.filteredJobs(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]*proto.Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, publicJob(j))
	}
	return out, nil
}

func (c *Coordinator) filteredJobs(ctx context.Context, req proto.JobRequest) ([]*proto.Job, error) {
	jobs, err := c.jobs.list(ctx)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	var out []*proto.Job
	for _, j := range jobs {
		if req.State != "" && j.State != req.State {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, j)
	}
	return out, nil
}

// JobSummary is one line of mtsfarm.api.list.
type JobSummary struct {
	ID       string         `json:"id"`
	State    proto.JobState `json:"state"`
	Title    string         `json:"title,omitempty"`
	URL      string         `json:"url"`
	Progress proto.Progress `json:"progress"`
	Output   string         `json:"output_key,omitempty"`
	Error    string         `json:"error,omitempty"`
	Created  string         `json:"created"`
	// Course, Duration (seconds), Warnings (how many) and Updated are what a
	// list view shows beside the state; the record (status) has the rest.
	Course   string  `json:"course,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Warnings int     `json:"warnings,omitempty"`
	Updated  string  `json:"updated,omitempty"`
}

func (c *Coordinator) apiList(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, false)
	if err != nil {
		return nil, err
	}
	jobs, err := c.filteredJobs(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]JobSummary, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, JobSummary{ID: j.ID, State: j.State, Title: j.Title, URL: j.Spec.URL, Progress: j.Progress,
			Output: j.OutputKey, Error: j.Error, Created: j.Created.Format(time.RFC3339),
			Course: j.Spec.Course, Duration: j.Duration, Warnings: len(j.Warnings), Updated: j.Updated.Format(time.RFC3339)})
	}
	return out, nil
}

// apiPlan answers a job's plan as it stands (from its flow and what its
// chunks know), for the dashboard's timeline and `nats req`. Every URL in
// it is redacted.
func (c *Coordinator) apiPlan(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, true)
	if err != nil {
		return nil, err
	}
	j, _, err := c.jobs.get(ctx, req.Job)
	if err != nil {
		return nil, err
	}
	if j.State == proto.StateQueued || j.State == proto.StateResolving {
		return nil, &apiError{code: 409, msg: fmt.Sprintf("job %s is %s: its plan is made once the recording is resolved", j.ID, j.State)}
	}
	cp := *j
	p, err := c.planFor(ctx, &cp, false)
	if err != nil {
		return nil, err
	}
	out := *p
	out.Sessions = slices.Clone(p.Sessions)
	for i := range out.Sessions {
		out.Sessions[i].URL = proto.RedactURL(out.Sessions[i].URL)
	}
	out.Slides = slices.Clone(p.Slides)
	for i := range out.Slides {
		out.Slides[i].URL = proto.RedactURL(out.Slides[i].URL)
	}
	out.Units = slices.Clone(p.Units)
	for i := range out.Units {
		out.Units[i].Windows = slices.Clone(p.Units[i].Windows)
		for k := range out.Units[i].Windows {
			out.Units[i].Windows[k].Slide = proto.RedactURL(out.Units[i].Windows[k].Slide)
		}
	}
	if body, err := json.Marshal(out); err == nil && int64(len(body)) > c.nc.MaxPayload()-1024 {
		return nil, fmt.Errorf("the plan of job %s is %d bytes, more than one NATS message holds (max_payload %d): print it with mtsfarm plan", j.ID, len(body), c.nc.MaxPayload())
	}
	return &out, nil
}

func (c *Coordinator) apiCancel(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, true)
	if err != nil {
		return nil, err
	}
	j, err := c.Cancel(ctx, req.Job)
	if err != nil {
		return nil, err
	}
	return publicJob(j), nil
}

// Cancel stops a job: its record becomes canceled, its queued tasks are
// purged, and workers running its tasks are told to stop (their ffmpeg
// processes end within seconds).
func (c *Coordinator) Cancel(ctx context.Context, id string) (*proto.Job, error) {
	j, err := c.jobs.update(ctx, id, func(j *proto.Job) error {
		if j.State.Terminal() {
			return badRequest("job %s is already %s", id, j.State)
		}
		j.State, j.Finished, j.Updated = proto.StateCanceled, c.now().UTC(), c.now().UTC()
		j.Progress = progress(j, c.now())
		return nil
	})
	if err != nil {
		return nil, err
	}
	notice, _ := json.Marshal(proto.CancelNotice{Job: id, Generation: j.Generation})
	if err := c.nc.Publish(proto.CancelSubject(id), notice); err != nil {
		c.log.Warn().Err(err).Str("job_id", id).Msg("announcing cancel")
	}
	for _, stream := range []string{proto.StreamFetch, proto.StreamRender, proto.StreamFinalize} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			continue
		}
		for _, subject := range proto.JobWorkSubjects(stream, id) {
			if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
				c.log.Warn().Err(err).Str("job_id", id).Str("stream", stream).Msg("purging canceled tasks")
			}
		}
	}
	c.forgetFlow(id)
	c.event(ctx, proto.Event{Job: id, Kind: proto.EventCanceled, State: proto.StateCanceled, Message: "canceled"})
	c.log.Info().Str("job_id", id).Msg("job canceled")
	return j, nil
}

func (c *Coordinator) apiRetry(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, true)
	if err != nil {
		return nil, err
	}
	j, err := c.Retry(ctx, req.Job)
	if err != nil {
		return nil, err
	}
	return publicJob(j), nil
}

func (c *Coordinator) apiPriority(ctx context.Context, data []byte) (any, error) {
	req, err := c.decodeJobRequest(data, true)
	if err != nil {
		return nil, err
	}
	if req.Priority == nil {
		return nil, badRequest(`give the new priority: {"job": "%s", "priority": 1} (higher first, 0 is normal)`, req.Job)
	}
	j, err := c.jobs.update(ctx, req.Job, func(j *proto.Job) error {
		if j.State.Terminal() {
			return badRequest("job %s is %s; the priority of a finished job cannot change", req.Job, j.State)
		}
		j.Spec.Priority = *req.Priority
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.log.Info().Str("job_id", req.Job).Int("priority", *req.Priority).Str("lane", proto.LaneOf(*req.Priority).String()).
		Msg("job priority changed; its next tasks go to that lane")
	return publicJob(j), nil
}

// Retry restarts the failed parts of a failed (or canceled) job, or of a
// job done without some of its media, with a new generation: chunks that
// failed or arrived undecodable are fetched again, failed units and the
// done units whose inputs that changes are rendered again by any renderer,
// a failed resolve is asked again; everything else stored is kept. A job
// whose units the retention sweep deleted renders all of them again.
func (c *Coordinator) Retry(ctx context.Context, id string) (*proto.Job, error) {
	_, err := c.jobs.update(ctx, id, func(j *proto.Job) error {
		switch {
		case j.State == proto.StateDone && !hasLostChunks(j):
			return badRequest("job %s is done with every source: there is nothing to retry (submit it with force for a new render)", id)
		case j.State != proto.StateFailed && j.State != proto.StateCanceled && j.State != proto.StateDone:
			return badRequest("job %s is %s; only failed or canceled jobs, or done jobs with sources left out, can be retried", id, j.State)
		}
		j.Generation++
		j.Error = ""
		j.Finished = time.Time{}
		swept := !j.Swept.IsZero()
		j.Swept = time.Time{}
		for i := range j.Units {
			u := &j.Units[i]
			if u.State != proto.TaskDone || swept { // swept: its rendered units are gone
				u.State, u.Generation, u.Failures, u.Error = proto.TaskPending, u.Generation+1, nil, ""
			}
		}
		for i := range j.Chunks {
			ch := &j.Chunks[i]
			switch {
			case ch.State == proto.TaskFailed || ch.State == proto.TaskInvalid:
				// Fetched again: its warning goes, and comes back if it
				// fails again.
				j.Warnings = slices.DeleteFunc(j.Warnings, func(w string) bool { return ch.Error != "" && strings.Contains(w, ch.Error) })
				ch.State, ch.Error, ch.Attempts = proto.TaskPending, "", 0
				j.RecheckUnits = j.Units != nil
			case !settled(ch.State):
				ch.State = proto.TaskPending
			}
		}
		switch {
		case j.Units == nil:
			j.State = proto.StateQueued
		default:
			j.State = proto.StateFetching
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.event(ctx, proto.Event{Job: id, Kind: proto.EventState, Message: "retrying"})
	return c.advance(ctx, id, nil, false)
}

// handleIntake takes a submission from the durable intake stream.
func (c *Coordinator) handleIntake(ctx context.Context, t *bus.Task) error {
	var req proto.SubmitRequest
	if err := decodeStrict(t.Data(), &req, submitExample); err != nil {
		c.event(ctx, proto.Event{Job: "intake", Kind: "rejected", Message: err.Error()})
		return bus.Permanent(err)
	}
	reply, err := c.Submit(ctx, req)
	var ae *apiError
	if errors.As(err, &ae) {
		c.event(ctx, proto.Event{Job: "intake", Kind: "rejected", Message: err.Error()})
		return bus.Permanent(err)
	}
	if err != nil {
		return err
	}
	for _, j := range reply.Jobs {
		c.event(ctx, proto.Event{Job: "intake", Kind: "accepted", Message: j.ID + " " + j.URL})
	}
	return nil
}

// hasLostChunks reports whether some of the job's media was left out (a
// chunk that failed or stayed undecodable).
func hasLostChunks(j *proto.Job) bool {
	for _, c := range j.Chunks {
		if c.State == proto.TaskFailed || c.State == proto.TaskInvalid {
			return true
		}
	}
	return false
}
