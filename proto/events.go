package proto

import (
	"strings"
	"time"
)

// Job events.

// Event is published on EventSubject(job, Kind).
type Event struct {
	Type    string    `json:"type"`
	Job     string    `json:"job"`
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	State   JobState  `json:"state,omitempty"`
	Message string    `json:"message,omitempty"`
	// Task is "resolve", "fetch", "render" or "finalize"; Index its chunk
	// or unit index.
	Task     string    `json:"task,omitempty"`
	Index    int       `json:"index,omitempty"`
	Worker   string    `json:"worker,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
}

func (Event) MessageType() string { return TypeEvent }

func (e Event) Validate() error {
	if err := checkType(e.Type, TypeEvent); err != nil {
		return err
	}
	if err := checkJobID(e.Job); err != nil {
		return err
	}
	if e.Kind == "" || strings.ContainsAny(e.Kind, ".*> ") {
		return invalidf("event kind %q is not a subject token", e.Kind)
	}
	return nil
}
