package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/internal/web"
)

// defaultDrainGrace fits the 30 s a container runtime waits by default
// between SIGTERM and SIGKILL (compose, Kubernetes); a renderer whose units
// take longer hands them back at the end of it, unless the deploy gives it
// a longer stop grace period and --drain-grace.
const defaultDrainGrace = 25 * time.Second

// opsFlags are a role's operability settings: its --http listener for
// /metrics, /healthz and /readyz (fetcher, renderer; the coordinator's
// --http also serves the dashboard) and its drain grace.
type opsFlags struct {
	addr  string
	grace time.Duration
}

func (o *opsFlags) registerGrace(fs *flag.FlagSet) {
	fs.DurationVar(&o.grace, "drain-grace", defaultDrainGrace, "on SIGTERM stop taking tasks and let running ones finish for this long, then hand them back and exit")
}

func (o *opsFlags) registerHTTP(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "http", "", "serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT; off by default")
}

// opsHandler is the role's /metrics, /healthz and /readyz: ready while ctx
// runs, NATS is connected and the store answers.
func opsHandler(ctx context.Context, m *ops.Metrics, nc *nats.Conn, store blob.Store) http.Handler {
	return ops.Handler(m, func() bool { return ctx.Err() != nil }, ops.NATSCheck(nc), ops.StoreCheck(store))
}

// serve serves the role's ops handler on --http, when given.
func (o *opsFlags) serve(ctx context.Context, env *cli, role string, m *ops.Metrics, nc *nats.Conn, store blob.Store, log zerolog.Logger) error {
	if o.addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return fmt.Errorf("%w: --http %q: want HOST:PORT (for example 0.0.0.0:9090)", errUsage, o.addr)
	}
	addr, err := web.Serve(ctx, o.addr, opsHandler(ctx, m, nc, store), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "%s metrics at http://%s/metrics (health: /healthz, /readyz)\n", role, addr)
	return nil
}

const probeUsage = `probe [URL]

Ask a role's --http listener whether it is ready (default
http://127.0.0.1:9090/readyz): exit 0 when it answers 200, 1 otherwise,
with its answer. For container health checks (the image has no curl).`

func runProbe(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "probe", probeUsage)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	url := "http://127.0.0.1:9090/readyz"
	switch fs.NArg() {
	case 0:
	case 1:
		url = fs.Arg(0)
	default:
		return fmt.Errorf("%w: give at most one URL", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probing %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(env.stdout, string(body))
	return nil
}
