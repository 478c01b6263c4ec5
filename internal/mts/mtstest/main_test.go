package mtstest

import (
	"fmt"
	"os"
	"testing"

	"github.com/rs/zerolog"
)

// sharedCache is one media cache for the package's tests: generated media is
// content-addressed, so servers of different tests reuse it.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtstest-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startBundled serves a bundled scenario with the shared cache.
func startBundled(t *testing.T, name string) *Server {
	t.Helper()
	sc, err := Bundled(name)
	if err != nil {
		t.Fatal(err)
	}
	return StartWith(t, sc, Options{CacheDir: sharedCache})
}

var testLog = zerolog.Nop()
