package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// TestE2EBadSubmissions sends bad submissions through the CLI, as a user
// would type them: `mtsfarm submit` to a running farm and `mtsfarm run`. Each
// gets a clear error naming what is wrong and a non-zero exit status, and
// nothing is created: no job record, no task, no event, no object, no
// request to MTS Link, and for `run` not even the data dir.
func TestE2EBadSubmissions(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "testdata/e2e-short.json")
	fake := mtstest.Start(t, sc)
	good := fake.RecordingURL(0)
	f := e2eFlags(t, fake.URL)
	fm := e2eStartFarm(t, f)
	server := fm.emb.ClientURL()
	// The coordinator answers before the table starts (an error then is
	// the submission's, not a farm still starting).
	e2eWaitAPI(t, fm)

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no url", []string{}, 2, "give at least one recording URL"},
		{"ftp url", []string{"ftp://my.mts-link.ru/1/2/record-new/3"}, 1, "not an MTS Link recording URL"},
		{"not a url", []string{"lecture one"}, 1, "not an MTS Link recording URL"},
		{"empty url", []string{""}, 1, "url"},
		{"other host", []string{"https://example.com/1/2/record-new/3"}, 1, `host "example.com" is not an MTS Link host`},
		{"malformed path", []string{"https://my.mts-link.ru/1/2/record/3"}, 1, "expected https://my.mts-link.ru/"},
		{"port of the fake server, other host", []string{strings.Replace(good, "127.0.0.1", "localhost", 1)}, 1, "not an MTS Link"},
		{"one bad of two", []string{good, "https://example.com/1/2/record-new/3"}, 1, "url 2"},
		{"units too short", []string{"--unit-seconds", "5", good}, 1, "unit_seconds 5 is below 10"},
		{"negative height", []string{"--max-height", "-1", good}, 1, "max_height"},
		{"unknown flag", []string{"--unit", "60", good}, 2, "flag provided but not defined: -unit"},
		{"cookie with a line break", []string{"--session-cookie", "a\nb", good}, 1, "session_cookie: the session cookie holds a character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"submit", "--nats-url", server}, c.args...)
			code, stdout, stderr := e2eCommand(context.Background(), nil, args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("mtsfarm %q: exit %d, stderr %q; want exit %d and %q", args, code, stderr, c.code, c.want)
			}
			if stdout != "" && c.code != 2 { // a usage error prints the usage
				t.Errorf("mtsfarm %q printed %q on stdout; want nothing (no job)", args, stdout)
			}
		})
	}

	runCases := []struct {
		name string
		args []string
		want string
	}{
		{"run: other host", []string{"https://example.com/1/2/record-new/3"}, `host "example.com" is not an MTS Link host`},
		{"run: malformed path", []string{"https://my.mts-link.ru/1/2/record/3"}, "expected https://my.mts-link.ru/"},
		{"run: not a url", []string{"lecture.mp4"}, "not an MTS Link recording URL"},
		{"run: cookie with a space", []string{"--session-cookie", "a b", good}, "--session-cookie: the session cookie holds a character"},
		{"run: no url", []string{}, "give one recording URL"},
		{"run: two urls", []string{good, good}, "give one recording URL"},
	}
	for _, c := range runCases {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			out := filepath.Join(t.TempDir(), "out.mp4")
			args := append([]string{"run", "--data-dir", dataDir, "--mts-base-url", fake.URL, "--progress", "none", "-o", out}, c.args...)
			code, stdout, stderr := e2eCommand(context.Background(), nil, args...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("mtsfarm %q: exit %d, stderr %q; want non-zero and %q", args, code, stderr, c.want)
			}
			if stdout != "" && code != 2 {
				t.Errorf("mtsfarm %q printed %q on stdout", args, stdout)
			}
			if _, err := os.Stat(dataDir); err == nil {
				t.Errorf("mtsfarm %q created the data dir %s: %q", args, dataDir, e2eFiles(t, dataDir))
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("mtsfarm %q wrote %s", args, out)
			}
		})
	}

	js := e2eJS(t, fm)
	if keys := e2eJobKeys(t, js); len(keys) != 0 {
		t.Errorf("bad submissions created job records %q", keys)
	}
	for _, s := range []string{proto.StreamIntake, proto.StreamFetch, proto.StreamRender, proto.StreamFinalize, proto.StreamEvents} {
		if n := bustest.StreamMsgs(t, js, s); n != 0 {
			t.Errorf("bad submissions left %d messages in %s", n, s)
		}
	}
	if objs := e2eFiles(t, filepath.Join(f.dataDir, "store", "objects")); len(objs) != 0 {
		t.Errorf("bad submissions stored objects %q", objs)
	}
	if reqs := fake.Requests(); len(reqs) != 0 {
		t.Errorf("bad submissions made %d requests to MTS Link (first %s)", len(reqs), reqs[0].Path)
	}
}
