package fetcher

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config is a fetcher's configuration. Start from DefaultConfig.
type Config struct {
	// WorkerID names this fetcher in results, events, presence and logs; it
	// must be unique in the farm (its temp directory is keyed by it).
	WorkerID string
	// Slots is how many tasks this fetcher works on at once (node-wide).
	Slots int
	// PerHost is how many downloads may run against one host at once: MTS
	// Link drops connections when a client opens more than a few (spec §8).
	PerHost int
	// WorkDir holds per-task temp directories (under WorkDir/<WorkerID>),
	// removed on success, failure and shutdown.
	WorkDir string
	// MTSBaseURLs are MTS Link base URLs besides the real service (a fake
	// server): recording URLs under them are accepted and their hosts are
	// allowed.
	MTSBaseURLs []string
	// AllowHosts are extra hosts media may come from (see Policy).
	AllowHosts []string
	// UserAgent of media, playlist and slide requests.
	UserAgent string
	// Attempts is how often a file that arrives corrupt is fetched before it
	// is reported invalid (spec §3.4: 3).
	Attempts int
	// NetFailures is how many requests in a row may fail (network errors,
	// 5xx, 429) without a new byte before a download gives up for this
	// delivery; the task is then redelivered with backoff.
	NetFailures int
	// MaxDeliveries is the delivery after which a task that keeps failing
	// for network reasons is reported failed on the job instead of being
	// redelivered again.
	MaxDeliveries int
	// RetryBase and RetryMax shape the backoff (with jitter) between
	// requests.
	RetryBase, RetryMax time.Duration
	// MaxRetryAfter is the longest Retry-After the fetcher waits out while
	// holding the task; a longer one hands the task back with that delay.
	MaxRetryAfter time.Duration
	// ConnectTimeout bounds connecting and the TLS handshake.
	ConnectTimeout time.Duration
	// StallTimeout is how long a download may receive nothing before the
	// connection is dropped and resumed with a Range request.
	StallTimeout time.Duration
	// PlaylistTimeout bounds the HLS playlist request (spec §3.3: 10 s).
	PlaylistTimeout time.Duration
	// MaxChunkBytes caps one media or slide download (0: no cap). A real
	// 30-minute chunk is a few hundred MB; the default is far above that
	// and below what fills a fetcher's disk.
	MaxChunkBytes int64
	// ProgressEvery is the least time between two progress events of a task.
	ProgressEvery time.Duration
	// PresenceEvery is how often the presence entry is renewed.
	PresenceEvery time.Duration
	// PollWait is how long one pull for a task waits (0: the worker loop's
	// default); an idle fetcher stops at most this long after its context
	// ends.
	PollWait time.Duration
	// AckWait overrides the consumer's ack wait for heartbeats (0: read it
	// from the consumer).
	AckWait time.Duration
	// DecodeCheck also decodes every media file completely before storing
	// it (slow for big chunks; ffprobe validation always runs).
	DecodeCheck bool
	// Version goes into the presence entry.
	Version string
	// DrainGrace is how long a running fetch may go on after the worker is
	// told to stop (SIGTERM) before it is handed back; 0 hands it back at
	// once.
	DrainGrace time.Duration
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		WorkerID:        proto.DefaultWorkerID(proto.RoleFetcher, host),
		Slots:           4,
		PerHost:         2,
		WorkDir:         filepath.Join(os.TempDir(), "mtsfarm-fetcher"),
		UserAgent:       mts.BrowserUserAgent,
		Attempts:        3,
		NetFailures:     6,
		MaxDeliveries:   5,
		RetryBase:       time.Second,
		RetryMax:        30 * time.Second,
		MaxRetryAfter:   30 * time.Second,
		ConnectTimeout:  15 * time.Second,
		StallTimeout:    30 * time.Second,
		PlaylistTimeout: 10 * time.Second,
		MaxChunkBytes:   8 << 30,
		ProgressEvery:   time.Second,
		PresenceEvery:   10 * time.Second,
	}
}

// Validate checks the configuration and says what to change.
func (c Config) Validate() error {
	var errs []error
	if !proto.ValidWorkerID(c.WorkerID) {
		errs = append(errs, fmt.Errorf("worker id %q: use 1-64 characters of a-z, 0-9, _ and - (--worker-id)", c.WorkerID))
	}
	if c.Slots < 1 || c.Slots > 256 {
		errs = append(errs, fmt.Errorf("slots %d: want 1..256 (--slots)", c.Slots))
	}
	if c.PerHost < 1 || c.PerHost > 64 {
		errs = append(errs, fmt.Errorf("per-host limit %d: want 1..64 (--per-host)", c.PerHost))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is empty: set --work-dir to a directory for temp files"))
	}
	for _, b := range c.MTSBaseURLs {
		if u, err := url.Parse(b); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("MTS base URL %q: want http(s)://host[:port] (--mts-base-url)", b))
		}
	}
	if _, err := mts.NewParser(c.MTSBaseURLs...); err != nil {
		errs = append(errs, fmt.Errorf("%w (--mts-base-url)", err))
	}
	if _, err := NewPolicy(c.policyEntries()...); err != nil {
		errs = append(errs, fmt.Errorf("%w (--allow-host)", err))
	}
	if c.Attempts < 1 || c.Attempts > 10 {
		errs = append(errs, fmt.Errorf("attempts %d: want 1..10", c.Attempts))
	}
	if c.NetFailures < 1 {
		errs = append(errs, fmt.Errorf("net failures %d: want at least 1", c.NetFailures))
	}
	if c.MaxDeliveries < 1 {
		errs = append(errs, fmt.Errorf("max deliveries %d: want at least 1", c.MaxDeliveries))
	}
	for name, d := range map[string]time.Duration{"retry base": c.RetryBase, "retry max": c.RetryMax,
		"connect timeout": c.ConnectTimeout, "stall timeout": c.StallTimeout, "playlist timeout": c.PlaylistTimeout,
		"progress interval": c.ProgressEvery, "presence interval": c.PresenceEvery} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("retry max is below retry base"))
	}
	if c.MaxChunkBytes < 0 {
		errs = append(errs, fmt.Errorf("max chunk bytes %d: want 0 (no cap) or more (--max-chunk-bytes)", c.MaxChunkBytes))
	}
	if c.MaxRetryAfter < 0 || c.AckWait < 0 || c.PollWait < 0 {
		errs = append(errs, errors.New("max retry-after, ack wait and poll wait must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fetcher config: %w", err)
	}
	return nil
}

// policyEntries are the configured hosts: the base URLs' and AllowHosts.
func (c Config) policyEntries() []string {
	return append(append([]string(nil), c.MTSBaseURLs...), c.AllowHosts...)
}

// Deps are what a fetcher works with.
type Deps struct {
	// JS is the farm's JetStream (provisioned with bus.Definitions).
	JS jetstream.JetStream
	// Store is the object store media, slides and flows go to.
	Store blob.Store
	// FFmpeg probes media and copies HLS streams.
	FFmpeg *ffmpeg.Runner
	Log    zerolog.Logger
	// Metrics counts the work for /metrics, the micro service's stats and
	// the presence entry (nil: counted for the latter two only).
	Metrics *ops.Metrics
}

func (d Deps) validate() error {
	switch {
	case d.JS == nil:
		return errors.New("fetcher: no JetStream connection")
	case d.Store == nil:
		return errors.New("fetcher: no object store")
	case d.FFmpeg == nil:
		return errors.New("fetcher: no ffmpeg runner")
	}
	return nil
}
