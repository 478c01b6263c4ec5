package mtstest

import (
	"context"
	"net"
	"testing"
)

// Start serves the scenario on a free loopback port for the test, with the
// media cache in t.TempDir(), and stops it at cleanup. A missing ffmpeg fails
// the test with a hint to run scripts/test.sh.
func Start(t testing.TB, sc *Scenario) *Server {
	t.Helper()
	return StartWith(t, sc, Options{})
}

// StartWith is Start with options; an empty CacheDir is t.TempDir() and the
// BaseURL is always the listener's.
func StartWith(t testing.TB, sc *Scenario, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mtstest: listening: %v", err)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	opts.BaseURL = "http://" + ln.Addr().String()
	s, err := New(sc, opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}
