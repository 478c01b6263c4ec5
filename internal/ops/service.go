package ops

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/proto"
)

// ServiceConfig describes one role instance to `nats micro`.
type ServiceConfig struct {
	// Role is proto.RoleFetcher, proto.RoleRenderer or proto.RoleCoordinator:
	// the service is "mtsfarm-<role>".
	Role    string
	Version string
	// Info returns the instance's presence entry (encoders, GPU, current
	// tasks), reported in the status reply and in every stats response.
	Info func() proto.WorkerInfo
}

// Status is the reply of a role's status endpoint and the data of its
// stats: who it is and what it does now.
type Status struct {
	proto.WorkerInfo
	Stats Stats `json:"stats"`
}

var semverRe = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)`)

// serviceVersion is version as the semantic version micro requires
// ("dev" → "0.0.0-dev").
func serviceVersion(v string) string {
	if m := semverRe.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	clean := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, v)
	if clean == "" {
		clean = "unknown"
	}
	return "0.0.0-" + clean
}

// StatusSubject is where an instance answers its status request:
// mtsfarm.workers.<worker id>.status.
func StatusSubject(workerID string) string { return "mtsfarm.workers." + workerID + ".status" }

// StartService adds the role's micro service on nc: `nats micro ls` lists
// the instance with its worker id, host, encoders and GPU (metadata), `nats
// micro stats` shows m's live stats and the current tasks, and a request on
// StatusSubject(id) returns Status. Stop it before draining nc.
func StartService(nc *nats.Conn, cfg ServiceConfig, m *Metrics) (micro.Service, error) {
	info := cfg.Info()
	status := func() Status {
		wi := cfg.Info()
		wi.Seen, wi.Stats = time.Now().UTC(), nil // Stats is the field below
		return Status{WorkerInfo: wi, Stats: m.Snapshot()}
	}
	md := map[string]string{"worker": info.ID, "host": info.Host, "roles": strings.Join(info.Roles, ",")}
	if len(info.Encoders) > 0 {
		md["encoders"] = strings.Join(info.Encoders, ",")
	}
	if info.GPU != "" {
		md["gpu"] = info.GPU
	}
	if info.Slots > 0 {
		md["slots"] = fmt.Sprint(info.Slots)
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "mtsfarm-" + cfg.Role,
		Version:     serviceVersion(cfg.Version),
		Description: "mtsfarm " + cfg.Role + " " + info.ID,
		Metadata:    md,
		StatsHandler: func(*micro.Endpoint) any {
			return status()
		},
		Endpoint: &micro.EndpointConfig{
			Subject: StatusSubject(info.ID),
			Handler: micro.HandlerFunc(func(r micro.Request) {
				data, _ := json.Marshal(status())
				_ = r.Respond(data)
			}),
			Metadata: map[string]string{"description": "this instance's presence entry and live stats"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("adding the micro service mtsfarm-%s: %w", cfg.Role, err)
	}
	return svc, nil
}
