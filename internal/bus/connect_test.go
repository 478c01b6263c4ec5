package bus_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
)

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectErrorsSayWhatFailed(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := closedPort(t)
	tests := []struct {
		name string
		cfg  bus.Config
		want []string
	}{{
		name: "server down, password in URL",
		cfg:  bus.Config{URL: "nats://farm:s3cret@" + addr},
		want: []string{"connecting to NATS at nats://redacted@" + addr + ":", "no servers available"},
	}, {
		name: "missing creds file",
		cfg:  bus.Config{URL: "nats://" + addr, Creds: filepath.Join(dir, "farm.creds")},
		want: []string{"connecting to NATS at nats://" + addr + ": reading credentials file:", "no such file"},
	}, {
		name: "certificate without key",
		cfg:  bus.Config{URL: "tls://" + addr, TLSCert: pem},
		want: []string{"TLS client certificate and key must be given together"},
	}, {
		name: "password without user",
		cfg:  bus.Config{URL: "nats://" + addr, Password: "s3cret"},
		want: []string{"a NATS password without a user: set NATS_USER"},
	}, {
		name: "user and creds file",
		cfg:  bus.Config{URL: "nats://" + addr, User: "renderer", Password: "s3cret", Creds: pem},
		want: []string{"NATS user and credentials file both given"},
	}, {
		name: "missing CA file",
		cfg:  bus.Config{URL: "tls://" + addr, TLSCA: filepath.Join(dir, "ca.pem")},
		want: []string{"reading TLS CA file:"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := bus.Connect(tc.cfg, nats.Timeout(time.Second))
			if err == nil {
				nc.Close()
				t.Fatal("Connect succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestConnectFallsBackToNATSURL(t *testing.T) {
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: t.TempDir(), Port: -1, Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	t.Setenv("NATS_URL", e.ClientURL())
	nc, err := bus.Connect(bus.Config{Name: "env-test"})
	if err != nil {
		t.Fatalf("Connect with NATS_URL=%s: %v", e.ClientURL(), err)
	}
	defer nc.Close()
	if got := nc.ConnectedUrl(); got != e.ClientURL() {
		t.Errorf("connected to %q, want %q", got, e.ClientURL())
	}
	if nc.Opts.Name != "env-test" || nc.Opts.MaxReconnect != -1 {
		t.Errorf("options: name %q, max reconnect %d; want env-test and -1 (forever)", nc.Opts.Name, nc.Opts.MaxReconnect)
	}
}

// TestConnectAsUser logs in with User and Password (NATS_USER and
// NATS_PASSWORD) to a server with an authorization block, and is refused
// with a wrong password.
func TestConnectAsUser(t *testing.T) {
	srv := plainServer(t, &server.Options{Users: []*server.User{{Username: "renderer", Password: "right-one"}}})
	nc, err := bus.Connect(bus.Config{URL: srv.ClientURL(), User: "renderer", Password: "right-one"})
	if err != nil {
		t.Fatalf("Connect as renderer: %v", err)
	}
	nc.Close()
	nc, err = bus.Connect(bus.Config{URL: srv.ClientURL(), User: "renderer", Password: "wrong-one"}, nats.Timeout(time.Second))
	if err == nil {
		nc.Close()
		t.Fatal("Connect with a wrong password succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization") || strings.Contains(err.Error(), "wrong-one") {
		t.Errorf("error %q: want an authorization failure without the password", err)
	}
}

// plainServer starts a nats-server without JetStream on a free loopback
// port (opts may add users); it stops when t ends.
func plainServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://a:b@h:4222":                  "nats://redacted@h:4222",
		"nats://token@h:4222, tls://h2:4222": "nats://redacted@h:4222,tls://h2:4222",
		"h:4222":                             "h:4222",
		"user:pw@h:4222":                     "redacted@h:4222",
	} {
		if got := bus.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
