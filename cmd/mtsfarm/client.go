package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/jobapi"
	"github.com/mtsfarm/mtsfarm/proto"
)

// The client commands talk to a farm's coordinator over the job API, exactly
// as `nats req mtsfarm.api.…` does.

// errNoCoordinator: nothing answers the job API.
var errNoCoordinator = jobapi.ErrNoCoordinator

// apiRequest sends body to an API subject and decodes the reply into out. A
// coordinator's error reply becomes an error with its text.
var apiRequest = jobapi.Request

// clientFlags are the flags of every client command.
type clientFlags struct {
	nats natsFlags
	json bool
}

func (c *clientFlags) register(env *cli, name, usage string) *flag.FlagSet {
	fs := newFlags(env, name, usage)
	c.nats.register(fs, env)
	fs.BoolVar(&c.json, "json", false, "print JSON instead of text")
	return fs
}

func runSubmit(ctx context.Context, env *cli, args []string) error {
	var c clientFlags
	fs := c.register(env, "submit", "submit [flags] URL...")
	var req proto.SubmitRequest
	fs.StringVar(&req.SessionCookie, "session-cookie", "", "sessionId cookie for private recordings (from a logged-in browser)")
	fs.StringVar(&req.Name, "name", "", "output name template ({title}, {job}, {session}, {course}); default {title}, or {course} - {title} with --course")
	fs.StringVar(&req.Course, "course", "", "the course these recordings belong to (the {course} of output names)")
	fs.IntVar(&req.Priority, "priority", 0, "job priority (higher first)")
	fs.Float64Var(&req.UnitSeconds, "unit-seconds", 0, "render unit length in seconds (default 1800)")
	fs.IntVar(&req.MaxHeight, "max-height", 0, "output height cap (default 720)")
	fs.BoolVar(&req.Force, "force", false, "make a new job even if this recording was submitted before")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: give at least one recording URL", errUsage)
	}
	req.URLs = fs.Args()
	nc, err := c.nats.connect("mtsfarm submit")
	if err != nil {
		return err
	}
	defer nc.Close()
	var reply proto.SubmitReply
	if err := apiRequest(ctx, nc, proto.SubjectSubmit, req, &reply); err != nil {
		return err
	}
	if c.json {
		return printJSON(env.stdout, reply)
	}
	for _, j := range reply.Jobs {
		note := ""
		if j.Existing {
			note = "\t(submitted before; --force makes a new job)"
		}
		fmt.Fprintf(env.stdout, "%s\t%s\t%s%s\n", j.ID, j.State, j.URL, note)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jobArg parses the one JOB argument of a command.
func jobArg(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%w: give one job id", errUsage)
	}
	id := fs.Arg(0)
	if !proto.ValidJobID(id) {
		return "", fmt.Errorf("%w: %q is not a job id (ids look like 0a1b2c3d4e5f6g7h)", errUsage, id)
	}
	return id, nil
}

func runStatus(ctx context.Context, env *cli, args []string) error {
	var c clientFlags
	fs := c.register(env, "status", "status [flags] [JOB]")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	nc, err := c.nats.connect("mtsfarm status")
	if err != nil {
		return err
	}
	defer nc.Close()
	if fs.NArg() == 0 {
		return listJobs(ctx, env, nc, c.json, proto.JobRequest{})
	}
	id, err := jobArg(fs)
	if err != nil {
		return err
	}
	var j proto.Job
	if err := apiRequest(ctx, nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j); err != nil {
		return err
	}
	if c.json {
		return printJSON(env.stdout, j)
	}
	printJob(env.stdout, &j)
	return nil
}

// printJob writes a human summary of a job record.
func printJob(w io.Writer, j *proto.Job) {
	fmt.Fprintf(w, "job       %s\nstate     %s\n", j.ID, j.State)
	if j.Title != "" {
		fmt.Fprintf(w, "title     %s\n", j.Title)
	}
	fmt.Fprintf(w, "url       %s\n", j.Spec.URL)
	if j.Duration > 0 {
		fmt.Fprintf(w, "duration  %s\n", fmtSeconds(j.Duration))
	}
	p := j.Progress
	fmt.Fprintf(w, "progress  %.0f%%", p.Fraction*100)
	if p.ETASeconds > 0 {
		fmt.Fprintf(w, " (about %s left)", fmtSeconds(p.ETASeconds))
	}
	fmt.Fprintln(w)
	chunks := map[proto.TaskState]int{}
	for _, c := range j.Chunks {
		chunks[c.State]++
	}
	units := map[proto.TaskState]int{}
	for _, u := range j.Units {
		units[u.State]++
	}
	if len(j.Chunks) > 0 {
		fmt.Fprintf(w, "fetched   %d of %d (%s)\n", chunks[proto.TaskDone]+chunks[proto.TaskInvalid]+chunks[proto.TaskFailed], len(j.Chunks), countLine(chunks))
	}
	if len(j.Units) > 0 {
		fmt.Fprintf(w, "rendered  %d of %d units (%s)\n", units[proto.TaskDone], len(j.Units), countLine(units))
	}
	if j.OutputKey != "" {
		fmt.Fprintf(w, "output    %s (%d bytes); download: mtsfarm get %s -o FILE\n", j.OutputKey, j.OutputSize, j.ID)
	}
	for _, warn := range j.Warnings {
		fmt.Fprintf(w, "warning   %s\n", warn)
	}
	if j.Error != "" {
		fmt.Fprintf(w, "error     %s\n", j.Error)
	}
}

func countLine(m map[proto.TaskState]int) string {
	var parts []string
	for _, s := range []proto.TaskState{proto.TaskPending, proto.TaskQueued, proto.TaskRunning, proto.TaskDone, proto.TaskInvalid, proto.TaskFailed} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	return strings.Join(parts, ", ")
}

func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return d.String()
}

func listJobs(ctx context.Context, env *cli, nc *nats.Conn, asJSON bool, req proto.JobRequest) error {
	var list []struct {
		ID       string         `json:"id"`
		State    proto.JobState `json:"state"`
		Title    string         `json:"title"`
		URL      string         `json:"url"`
		Progress proto.Progress `json:"progress"`
		Error    string         `json:"error"`
		Created  string         `json:"created"`
	}
	if err := apiRequest(ctx, nc, proto.SubjectList, req, &list); err != nil {
		return err
	}
	if asJSON {
		return printJSON(env.stdout, list)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tPROGRESS\tTITLE\tCREATED")
	for _, j := range list {
		title := j.Title
		if title == "" {
			title = j.URL
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f%%\t%s\t%s\n", j.ID, j.State, j.Progress.Fraction*100, title, j.Created)
	}
	return tw.Flush()
}

func runList(ctx context.Context, env *cli, args []string) error {
	var c clientFlags
	fs := c.register(env, "list", "list [flags]")
	var state string
	var limit int
	fs.StringVar(&state, "state", "", "only jobs in this state (queued, fetching, rendering, done, failed, …)")
	fs.IntVar(&limit, "limit", 100, "at most this many jobs, newest first")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	nc, err := c.nats.connect("mtsfarm list")
	if err != nil {
		return err
	}
	defer nc.Close()
	return listJobs(ctx, env, nc, c.json, proto.JobRequest{State: proto.JobState(state), Limit: limit})
}

// runJobAction is cancel and retry: one job id to one API subject.
func runJobAction(subject, verb string) func(context.Context, *cli, []string) error {
	return func(ctx context.Context, env *cli, args []string) error {
		var c clientFlags
		fs := c.register(env, verb, verb+" [flags] JOB")
		if err := parseFlags(env, fs, args); err != nil {
			return err
		}
		id, err := jobArg(fs)
		if err != nil {
			return err
		}
		nc, err := c.nats.connect("mtsfarm " + verb)
		if err != nil {
			return err
		}
		defer nc.Close()
		var j proto.Job
		if err := apiRequest(ctx, nc, subject, proto.JobRequest{Job: id}, &j); err != nil {
			return err
		}
		if c.json {
			return printJSON(env.stdout, j)
		}
		fmt.Fprintf(env.stdout, "%s\t%s\n", j.ID, j.State)
		return nil
	}
}

func runWatch(ctx context.Context, env *cli, args []string) error {
	var c clientFlags
	fs := c.register(env, "watch", "watch [flags] JOB")
	events := fs.Bool("events", false, "print every event of the job, from its first (--json: as JSON), instead of progress")
	progress := fs.String("progress", "auto", "auto (bars on a terminal), bars, lines or none")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	id, err := jobArg(fs)
	if err != nil {
		return err
	}
	nc, err := c.nats.connect("mtsfarm watch")
	if err != nil {
		return err
	}
	defer nc.Close()
	if !*events && !c.json {
		show := newProgressView(env.stderr, *progress)
		j, err := followJob(ctx, nc, nil, id, show)
		show.close()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s\t%s\t%s\n", j.ID, j.State, j.Title)
		if j.State != proto.StateDone {
			return fmt.Errorf("job %s ended %s: %s", id, j.State, j.Error)
		}
		return nil
	}
	state, err := watchJob(ctx, nc, id, func(e proto.Event) {
		if c.json {
			_ = json.NewEncoder(env.stdout).Encode(e)
			return
		}
		fmt.Fprintln(env.stdout, eventLine(e))
	})
	if err != nil {
		return err
	}
	if state != proto.StateDone {
		return fmt.Errorf("job %s ended %s", id, state)
	}
	return nil
}

// watchJob prints a job's events from its first until it ends, and returns
// its final state.
func watchJob(ctx context.Context, nc *nats.Conn, id string, fn func(proto.Event)) (proto.JobState, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	var j proto.Job
	if err := apiRequest(ctx, nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j); err != nil {
		return "", err
	}
	cons, err := js.OrderedConsumer(ctx, proto.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{proto.EventsFilter(id)}})
	if err != nil {
		return "", fmt.Errorf("following events of %s: %w", id, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return "", err
	}
	defer it.Stop()
	go func() { <-ctx.Done(); it.Stop() }()
	if j.State.Terminal() {
		// Replay what is stored, then stop.
		info, _ := cons.Info(ctx)
		if info == nil || info.NumPending == 0 {
			return j.State, nil
		}
	}
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", err
		}
		var e proto.Event
		if json.Unmarshal(msg.Data(), &e) != nil {
			continue
		}
		fn(e)
		switch e.Kind {
		case proto.EventDone, proto.EventFailed, proto.EventCanceled:
			return e.State, nil
		}
		if e.Kind == proto.EventState && e.State.Terminal() {
			return e.State, nil
		}
		if j.State.Terminal() {
			if md, err := msg.Metadata(); err == nil && md.NumPending == 0 {
				return j.State, nil
			}
		}
	}
}

// eventLine formats an event for a terminal.
func eventLine(e proto.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-9s", e.Time.Local().Format("15:04:05"), e.Kind)
	if e.State != "" {
		fmt.Fprintf(&b, " %s", e.State)
	}
	if e.Task != "" {
		fmt.Fprintf(&b, " %s %d", e.Task, e.Index)
	}
	if p := e.Progress; p != nil {
		if p.BytesTotal > 0 {
			fmt.Fprintf(&b, " %.1f/%.1f MB", float64(p.BytesDone)/1e6, float64(p.BytesTotal)/1e6)
		} else if p.RenderedSeconds > 0 {
			fmt.Fprintf(&b, " %s", fmtSeconds(p.RenderedSeconds))
		}
		if p.Fraction > 0 {
			fmt.Fprintf(&b, " %.0f%%", p.Fraction*100)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " %s", e.Message)
	}
	return b.String()
}
