package proto

import (
	"strings"
	"time"
)

// Worker presence.

// Worker roles.
const (
	RoleCoordinator = "coordinator"
	RoleFetcher     = "fetcher"
	RoleRenderer    = "renderer"
)

// WorkerInfo is a worker's presence entry in KV BucketWorkers (key = ID),
// renewed every few seconds and expiring with the bucket TTL.
type WorkerInfo struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Roles    []string  `json:"roles"`
	Encoders []string  `json:"encoders,omitempty"`
	GPU      string    `json:"gpu,omitempty"`
	CUDA     bool      `json:"cuda,omitempty"`
	Slots    int       `json:"slots,omitempty"`
	Current  []string  `json:"current,omitempty"` // "<job>/<unit>" being worked on
	Version  string    `json:"version,omitempty"`
	Started  time.Time `json:"started"`
	Seen     time.Time `json:"seen"`
	// Stats are the worker's counters since it started (absent from
	// workers older than them).
	Stats *WorkerStats `json:"stats,omitempty"`
}

// WorkerStats are one worker process's counters: its presence entry, its
// micro service's stats and its /metrics report the same numbers.
type WorkerStats struct {
	InFlight     int            `json:"in_flight"`
	Done         int64          `json:"tasks_done"`
	Failed       int64          `json:"tasks_failed"`
	Failures     map[string]int `json:"failures,omitempty"` // by reason
	MediaSeconds float64        `json:"media_seconds,omitempty"`
	// Speed is media seconds per second of the last rendered unit.
	Speed        float64 `json:"speed,omitempty"`
	FetchedBytes int64   `json:"fetched_bytes,omitempty"`
	LastFailure  string  `json:"last_failure,omitempty"`
	Uptime       float64 `json:"uptime_seconds"`
}

func (WorkerInfo) MessageType() string { return TypeWorker }

var workerIDRe = jobIDRe

// ValidWorkerID reports whether id can be a KV key and a subject token.
func ValidWorkerID(id string) bool { return workerIDRe.MatchString(id) }

// DefaultWorkerID names a worker of a role on a host ("renderer-gpu-node-1"):
// lower case, every character a worker id cannot hold replaced by "-", cut
// to 64 characters. Hosts must still give each worker a unique id.
func DefaultWorkerID(role, host string) string {
	b := []byte(strings.ToLower(role + "-" + host))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func (w WorkerInfo) Validate() error {
	if err := checkType(w.Type, TypeWorker); err != nil {
		return err
	}
	if !ValidWorkerID(w.ID) {
		return invalidf("worker id %q must be 1-64 characters of a-z, 0-9, _ and -", w.ID)
	}
	if len(w.Roles) == 0 {
		return invalidf("worker %s has no roles", w.ID)
	}
	return nil
}
