package bus

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// EmbeddedConfig configures the in-process nats-server of the one-process
// farm and of tests.
type EmbeddedConfig struct {
	// DataDir holds the JetStream file store (DataDir/jetstream). Required:
	// reopening the same dir keeps streams, messages and KV.
	DataDir string
	// Host is the listen address when Port != 0 (default 127.0.0.1).
	Host string
	// Port 0: no TCP listener, in-process connections only; -1: a random free
	// port (see ClientURL), so the `nats` CLI can attach; >0: that port.
	Port int
	// ServerName names the server in `nats server ls` (default "mtsfarm").
	ServerName string
	// Log receives the server's log lines (component=nats-server).
	Log zerolog.Logger
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv *server.Server
	log zerolog.Logger
}

// readyTimeout bounds how long StartEmbedded waits for the server, which
// includes recovering a large JetStream store.
const readyTimeout = 60 * time.Second

// MaxPayload is the embedded server's largest message, the shipped
// configs' max_payload (8MB).
const MaxPayload = 8 << 20

// StartEmbedded starts a nats-server with JetStream in this process and waits
// until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("starting embedded NATS: no data dir given (set one; it holds the JetStream store)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("starting embedded NATS: creating data dir: %w", err)
	}
	name := cfg.ServerName
	if name == "" {
		name = "mtsfarm"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   cfg.DataDir, // the server appends "jetstream"
		NoSigs:     true,
		// As deploy/nats/*.conf: a job's KV record of a long lecture is
		// some 100 KB and grows with its chunks; 1 MB (the default) would
		// cap a job at about 1,700 chunks.
		MaxPayload: MaxPayload,
	}
	if cfg.Port == 0 {
		opts.DontListen = true
	} else {
		opts.Host = cfg.Host
		if opts.Host == "" {
			opts.Host = "127.0.0.1"
		}
		opts.Port = cfg.Port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded NATS: %w", err)
	}
	log := cfg.Log.With().Str("component", "nats-server").Logger()
	lvl := log.GetLevel()
	if g := zerolog.GlobalLevel(); g > lvl {
		lvl = g
	}
	// Notices (banner, JetStream limits) go to debug, server debug lines to
	// trace: the farm's own lines say what matters at info.
	srv.SetLoggerV2(serverLogger{log}, lvl <= zerolog.TraceLevel, lvl <= zerolog.TraceLevel, false)
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("starting embedded NATS with data dir %s: not ready after %s (see the nats-server log lines; is the port in use or the store locked by another process?)", cfg.DataDir, readyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("starting embedded NATS with data dir %s: JetStream did not start (see the nats-server log lines)", cfg.DataDir)
	}
	e := &Embedded{srv: srv, log: log}
	ev := log.Debug().Str("data_dir", cfg.DataDir)
	if u := e.ClientURL(); u != "" {
		ev = ev.Str("url", u)
	}
	ev.Msg("embedded NATS ready")
	return e, nil
}

// Connect opens an in-process connection (no TCP) to the server.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.InProcessServer(e.srv), nats.Name("mtsfarm-embedded")}, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("connecting to embedded NATS: %w", err)
	}
	return nc, nil
}

// ClientURL is the nats:// URL of the TCP listener, or "" when the server
// has none (Port 0).
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Server is the underlying nats-server, for monitoring and tests.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped and flushed the
// store. Safe to call more than once.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// serverLogger adapts nats-server logging to zerolog.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

// Fatalf logs at error level: the server stops itself after a fatal error,
// and StartEmbedded then reports that it is not ready. It must not exit the
// process the way the server's own logger does.
func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error().Bool("fatal", true).Msgf(format, v...)
}
