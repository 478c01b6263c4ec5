package fetcher

import (
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if id := DefaultConfig().WorkerID; !proto.ValidWorkerID(id) || !strings.HasPrefix(id, "fetcher-") {
		t.Errorf("default worker id %q", id)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"worker id":  {func(c *Config) { c.WorkerID = "Bad ID" }, "--worker-id"},
		"slots":      {func(c *Config) { c.Slots = 0 }, "--slots"},
		"per host":   {func(c *Config) { c.PerHost = 0 }, "--per-host"},
		"work dir":   {func(c *Config) { c.WorkDir = "" }, "--work-dir"},
		"base url":   {func(c *Config) { c.MTSBaseURLs = []string{"ftp://x"} }, "--mts-base-url"},
		"allow host": {func(c *Config) { c.AllowHosts = []string{"*.a/b"} }, "--allow-host"},
		"attempts":   {func(c *Config) { c.Attempts = 0 }, "attempts"},
		"stall":      {func(c *Config) { c.StallTimeout = 0 }, "stall timeout"},
		"retry":      {func(c *Config) { c.RetryMax = time.Millisecond }, "retry max"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
	if _, err := New(DefaultConfig(), Deps{}); err == nil || !strings.Contains(err.Error(), "JetStream") {
		t.Errorf("New without deps: %v", err)
	}
}
