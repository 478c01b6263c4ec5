package bus

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Config says how to reach a NATS server. Every field is optional: an empty
// URL falls back to $NATS_URL and then to nats.DefaultURL.
type Config struct {
	// URL is one server URL or a comma-separated list
	// (nats://user:pass@host:4222, tls://host:4222).
	URL string
	// Creds is a .creds file (user JWT and nkey seed) for decentralized auth.
	Creds string
	// User and Password log in as a user of the server's authorization
	// block (deploy/nats/auth.conf) when the URL carries no user of its own;
	// Password must come from the environment (NATS_PASSWORD), never from a
	// command line.
	User, Password string
	// TLSCert and TLSKey are a client certificate and its key (mutual TLS);
	// both or neither.
	TLSCert string
	TLSKey  string
	// TLSCA is a PEM file of CAs that sign the server certificate.
	TLSCA string
	// Name is the connection name shown by `nats server report connections`.
	Name string
}

// Reconnect timing: a farm process outlives NATS restarts, so it reconnects
// forever with a jittered wait instead of giving up.
const (
	reconnectWait      = 2 * time.Second
	reconnectJitter    = 500 * time.Millisecond
	reconnectJitterTLS = time.Second
)

// URLOrDefault returns the URL Connect dials for cfg.
func (c Config) URLOrDefault() string {
	if c.URL != "" {
		return c.URL
	}
	if env := os.Getenv("NATS_URL"); env != "" {
		return env
	}
	return nats.DefaultURL
}

// Options returns the nats options Connect uses for cfg (credentials, TLS,
// reconnect forever, name). It checks that the files it names exist, so a
// typo is reported as such and not as an authorization failure.
func (c Config) Options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
	}
	if c.Name != "" {
		opts = append(opts, nats.Name(c.Name))
	}
	if c.Creds != "" {
		if err := checkFile("credentials file", c.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.Password != "" && c.User == "" {
		return nil, errors.New("a NATS password without a user: set NATS_USER (--nats-user) too")
	}
	if c.User != "" {
		if c.Creds != "" {
			return nil, errors.New("NATS user and credentials file both given: use one (a user with NATS_PASSWORD, or --nats-creds)")
		}
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("TLS client certificate and key must be given together (set both or neither)")
	}
	if c.TLSCert != "" {
		if err := checkFile("TLS client certificate", c.TLSCert); err != nil {
			return nil, err
		}
		if err := checkFile("TLS client key", c.TLSKey); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		if err := checkFile("TLS CA file", c.TLSCA); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	return opts, nil
}

func checkFile(what, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if st.IsDir() {
		return fmt.Errorf("reading %s: %s is a directory, want a file", what, path)
	}
	return nil
}

// Connect dials NATS as cfg says; opts are applied after cfg's own options
// (handlers, timeouts). The error names the server (without credentials) and
// what failed.
func Connect(cfg Config, opts ...nats.Option) (*nats.Conn, error) {
	u := cfg.URLOrDefault()
	base, err := cfg.Options()
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", RedactURL(u), err)
	}
	nc, err := nats.Connect(u, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", RedactURL(u), err)
	}
	return nc, nil
}

// RedactURL returns a comma-separated list of server URLs with any user
// info replaced, so it can be logged.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			if at := strings.LastIndex(p, "@"); at >= 0 {
				p = "redacted@" + p[at+1:]
			}
			parts[i] = p
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// Drain drains nc and waits, up to timeout, until it is closed: pending
// publishes (results, events, the naks that hand tasks back on shutdown) are
// flushed before the process exits. nc.Drain alone returns at once.
func Drain(nc *nats.Conn, timeout time.Duration) {
	if nc == nil || nc.IsClosed() {
		return
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	deadline := time.Now().Add(timeout)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	nc.Close()
}
