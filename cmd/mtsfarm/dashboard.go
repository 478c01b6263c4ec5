package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/internal/web"
)

// dashFlags are the web dashboard's flags (coordinator and run).
type dashFlags struct {
	addr, token string
}

func (d *dashFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.addr, "http", "", "serve the web dashboard on HOST:PORT (port 0: any free port); off by default")
	fs.StringVar(&d.token, "http-token", "", "token that unlocks the dashboard's actions (submit, cancel, retry); without it the dashboard is read-only")
}

// start serves the dashboard until ctx ends, when --http is given, and says
// where on stderr; opsH, when not nil, serves ops.Paths (/metrics, …) on
// the same listener.
func (d *dashFlags) start(ctx context.Context, env *cli, nc *nats.Conn, store blob.Store, log zerolog.Logger, opsH http.Handler) error {
	if d.addr == "" {
		if d.token != "" {
			return fmt.Errorf("%w: --http-token without --http: give the address the dashboard listens on", errUsage)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(d.addr); err != nil {
		return fmt.Errorf("%w: --http %q: want HOST:PORT (for example 127.0.0.1:8080)", errUsage, d.addr)
	}
	srv, err := web.New(nc, store, web.Config{Token: d.token, Log: log})
	if err != nil {
		return err
	}
	var h http.Handler = srv
	if opsH != nil {
		h = ops.Mount(opsH, srv)
	}
	addr, err := web.Serve(ctx, d.addr, h, log)
	if err != nil {
		return err
	}
	mode := "read-only: give --http-token to act from the page"
	if d.token != "" {
		mode = "actions unlocked by the token"
	}
	fmt.Fprintf(env.stderr, "dashboard at http://%s/ (%s)\n", addr, mode)
	return nil
}
