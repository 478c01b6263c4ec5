package proto

import "fmt"

// Priority lanes.
//
// A JetStream work-queue consumer hands out messages in stream order, so a
// job submitted behind a queue of long jobs would wait for all of their
// fetches and units. Priority is therefore a lane: each work stream holds
// three subject lanes per job (mtsfarm.render.<job>.high, mtsfarm.render.<job>,
// mtsfarm.render.<job>.low), each lane has its own durable consumer
// (renderers-high, renderers, renderers-low), and a worker takes from the
// highest lane that has work before it waits on the lower ones
// (internal/bus.Worker). Within a lane the order is FIFO. The job's priority
// decides the lane of every task published for it: > 0 high, 0 normal, < 0
// low. A task already queued keeps its lane when the priority changes; the
// tasks published after the change use the new one.

// Lane is a priority lane of the work streams.
type Lane string

// The lanes, highest first.
const (
	LaneHigh   Lane = "high"
	LaneNormal Lane = ""
	LaneLow    Lane = "low"
)

// Lanes lists the lanes, highest first: the order a worker takes work in.
var Lanes = []Lane{LaneHigh, LaneNormal, LaneLow}

// LaneOf is the lane of a job's tasks by its priority.
func LaneOf(priority int) Lane {
	switch {
	case priority > 0:
		return LaneHigh
	case priority < 0:
		return LaneLow
	}
	return LaneNormal
}

// String is the lane's name ("normal" for the normal lane).
func (l Lane) String() string {
	if l == LaneNormal {
		return "normal"
	}
	return string(l)
}

func (l Lane) subject(prefix, job string) string {
	if l == LaneNormal {
		return prefix + "." + job
	}
	return prefix + "." + job + "." + string(l)
}

// filter is the consumer filter of the lane over every job.
func (l Lane) filter(prefix string) string { return l.subject(prefix, "*") }

// Consumer is the durable consumer name of the lane in a stream whose
// normal-lane consumer is base ("renderers" → "renderers-high").
func (l Lane) Consumer(base string) string {
	if l == LaneNormal {
		return base
	}
	return base + "-" + string(l)
}

// LaneFilter is the consumer filter subject of lane in a work stream.
func LaneFilter(stream string, l Lane) string {
	switch stream {
	case StreamFetch:
		return l.filter(fetchPrefix)
	case StreamRender:
		return l.filter(renderPrefix)
	case StreamFinalize:
		return l.filter(finalizePrefix)
	}
	panic(fmt.Sprintf("proto.LaneFilter: %s is not a work stream with lanes", stream))
}
