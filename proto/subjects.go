package proto

import (
	"fmt"
	"regexp"
	"strings"
)

// Subjects of the job API (a micro service named ServiceName).
const (
	ServiceName    = "mtsfarm"
	ServiceVersion = "1.0.0"

	SubjectAPI      = "mtsfarm.api"
	SubjectSubmit   = "mtsfarm.api.submit"
	SubjectStatus   = "mtsfarm.api.status"
	SubjectList     = "mtsfarm.api.list"
	SubjectCancel   = "mtsfarm.api.cancel"
	SubjectRetry    = "mtsfarm.api.retry"
	SubjectPlan     = "mtsfarm.api.plan"
	SubjectPriority = "mtsfarm.api.priority"

	// SubjectIntake is the durable intake: submissions published here are kept
	// in a stream until a coordinator takes them, so `nats pub mtsfarm.intake`
	// works while no coordinator runs.
	SubjectIntake = "mtsfarm.intake"
)

// Subject prefixes of the per-job work and event subjects; the job id is a
// subject token so a job's messages can be purged by subject on cancel.
const (
	fetchPrefix    = "mtsfarm.fetch"
	renderPrefix   = "mtsfarm.render"
	finalizePrefix = "mtsfarm.finalize"
	resultPrefix   = "mtsfarm.result"
	eventPrefix    = "mtsfarm.events"
	cancelPrefix   = "mtsfarm.control.cancel"
)

// Subjects each stream holds (internal/bus provisions the streams on them).
// The work streams hold every lane: mtsfarm.fetch.<job> (normal) and
// mtsfarm.fetch.<job>.high|low (see Lane).
const (
	FetchSubjects    = fetchPrefix + ".>"
	RenderSubjects   = renderPrefix + ".>"
	FinalizeSubjects = finalizePrefix + ".>"
	ResultSubjects   = resultPrefix + ".*.*"
	EventSubjects    = eventPrefix + ".>"
)

// Event kinds (the last token of an event subject).
const (
	EventState    = "state"    // job state changed
	EventProgress = "progress" // a task advanced (bytes, rendered seconds)
	EventFetched  = "fetched"  // a chunk or slide is stored
	EventRendered = "rendered" // a unit is stored
	EventWarning  = "warning"  // something the user should know, job goes on
	EventError    = "error"    // a task failed (maybe retried)
	EventDone     = "done"     // output stored
	EventFailed   = "failed"   // job failed
	EventCanceled = "canceled" // job canceled
)

// Result kinds (the last token of a result subject).
const (
	ResultFetch  = "fetch"
	ResultRender = "render"
)

var jobIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidJobID reports whether id can be used as a job id: 1–64 characters of
// [a-z0-9_-], so it is a single NATS subject token and a safe key segment.
func ValidJobID(id string) bool { return jobIDRe.MatchString(id) }

func checkJobID(id string) error {
	if !ValidJobID(id) {
		return fmt.Errorf("%w: job id %q must be 1-64 characters of a-z, 0-9, _ and -", ErrInvalid, id)
	}
	return nil
}

// FetchSubject is where fetch tasks of a job of the normal lane are
// published; FetchSubjectLane names the others.
func FetchSubject(job string) string { return FetchSubjectLane(job, LaneNormal) }

// RenderSubject is where render units of a job of the normal lane are
// published.
func RenderSubject(job string) string { return RenderSubjectLane(job, LaneNormal) }

// FinalizeSubject is where the finalize task of a job of the normal lane is
// published.
func FinalizeSubject(job string) string { return FinalizeSubjectLane(job, LaneNormal) }

// FetchSubjectLane is where fetch tasks of a job in lane are published.
func FetchSubjectLane(job string, lane Lane) string { return lane.subject(fetchPrefix, job) }

// RenderSubjectLane is where render units of a job in lane are published.
func RenderSubjectLane(job string, lane Lane) string { return lane.subject(renderPrefix, job) }

// FinalizeSubjectLane is where the finalize task of a job in lane is
// published.
func FinalizeSubjectLane(job string, lane Lane) string { return lane.subject(finalizePrefix, job) }

// JobWorkSubjects are the subjects of every lane of one job in a work stream
// (prefix one of the fetch, render, finalize prefixes): what a cancel purges.
func JobWorkSubjects(stream, job string) []string {
	prefix := map[string]string{StreamFetch: fetchPrefix, StreamRender: renderPrefix, StreamFinalize: finalizePrefix}[stream]
	if prefix == "" {
		return nil
	}
	out := make([]string, 0, len(Lanes))
	for _, l := range Lanes {
		out = append(out, l.subject(prefix, job))
	}
	return out
}

// ResultSubject is where workers report the outcome of a task to the
// coordinator (kind is ResultFetch or ResultRender).
func ResultSubject(job, kind string) string { return resultPrefix + "." + job + "." + kind }

// EventSubject is where events of a job are published.
func EventSubject(job, kind string) string { return eventPrefix + "." + job + "." + kind }

// EventsFilter matches every event of one job.
func EventsFilter(job string) string { return eventPrefix + "." + job + ".>" }

// JobOfSubject is the job id of a per-job work, result or event subject
// (mtsfarm.<kind>.<job>[.…]: the third token), or "" when subject is not one.
func JobOfSubject(subject string) string {
	t := strings.SplitN(subject, ".", 4)
	if len(t) < 3 || t[0] != "mtsfarm" || !ValidJobID(t[2]) {
		return ""
	}
	switch t[0] + "." + t[1] {
	case fetchPrefix, renderPrefix, finalizePrefix, resultPrefix, eventPrefix:
		return t[2]
	}
	return ""
}

// CancelSubject is a core-NATS subject on which the coordinator announces a
// canceled job, so workers stop the job's running ffmpeg processes at once.
// Its payload is a CancelNotice.
func CancelSubject(job string) string { return cancelPrefix + "." + job }

// CancelNotice is the payload of a cancel announcement: the job generation
// that was canceled. Tasks of a later generation (the job was retried) are
// not stopped or refused.
type CancelNotice struct {
	Job        string `json:"job"`
	Generation int    `json:"generation"`
}

// CancelFilter matches the cancel announcements of every job.
const CancelFilter = cancelPrefix + ".*"

// MsgID is the Nats-Msg-Id of a published task:
// <job>/<kind>/<index>/<generation>. A restarted coordinator that republishes
// the same generation is deduplicated by the stream; a retry bumps generation.
func MsgID(job, kind string, index, generation int) string {
	return fmt.Sprintf("%s/%s/%d/%d", job, kind, index, generation)
}
