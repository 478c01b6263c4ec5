package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

const fakeMTSUsage = `fake-mts --scenario FILE [--addr HOST:PORT] [flags]

Serve a fake MTS Link for a scenario file (see scripts/scenarios): the flow
API, media chunks, HLS variants and slides, generated with ffmpeg on first
request and cached by content in --cache-dir. Prints one recording URL per
line on stdout, then serves until interrupted. Point the other commands at it
with --mts-base-url http://HOST:PORT (or MTSFARM_MTS_BASE_URL).`

// runFakeMTS is `mtsfarm fake-mts`.
func runFakeMTS(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "fake-mts", fakeMTSUsage)
	scenario := fs.String("scenario", "", "scenario JSON file (required)")
	addr := fs.String("addr", "127.0.0.1:8089", "address to listen on")
	baseURL := fs.String("base-url", "", "URL clients reach this server at, used in recording and media URLs (default http://ADDR; 127.0.0.1 for a wildcard address)")
	cacheDir := fs.String("cache-dir", "", "generated media cache (default the user cache dir's mtsfarm/fake-mts)")
	warm := fs.Bool("warm", false, "generate all media before printing the URLs")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if *scenario == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: give --scenario FILE and no arguments", errUsage)
	}
	log, err := lf.logger(env.stderr)
	if err != nil {
		return fmt.Errorf("%w: --log-level %q: %v", errUsage, lf.level, err)
	}
	sc, err := mtstest.LoadScenario(*scenario)
	if err != nil {
		return err
	}
	if *cacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("finding a cache dir (give --cache-dir): %w", err)
		}
		*cacheDir = filepath.Join(dir, "mtsfarm", "fake-mts")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	defer ln.Close()
	base := *baseURL
	if base == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	srv, err := mtstest.New(sc, mtstest.Options{CacheDir: *cacheDir, BaseURL: base, Log: log})
	if err != nil {
		return err
	}
	if *warm {
		log.Info().Str("cache_dir", *cacheDir).Msg("generating media")
		if err := srv.Warm(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("generating media: %w", err)
		}
	}
	for i, u := range srv.RecordingURLs() {
		fmt.Fprintln(env.stdout, u)
		log.Info().Str("url", u).Str("name", sc.Webinars[i].Name).Bool("private", sc.Webinars[i].Private).Msg("recording")
	}
	log.Info().Str("addr", ln.Addr().String()).Str("base_url", base).Str("cache_dir", *cacheDir).Msg("fake MTS Link serving")
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info().Msg("fake MTS Link stopped")
	return nil
}
