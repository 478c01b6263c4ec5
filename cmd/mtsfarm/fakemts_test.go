package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFakeMTSCommand(t *testing.T) {
	scenario := filepath.Join(mtstest.ScenarioDir(), "lecture-slides.json")
	var out, errb syncBuffer
	env := &cli{stdout: &out, stderr: &errb, getenv: func(k string) string {
		return map[string]string{"MTSFARM_CACHE_DIR": t.TempDir(), "MTSFARM_LOG_FORMAT": "json"}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, env, []string{"fake-mts", "--scenario", scenario, "--addr", "127.0.0.1:0"}) }()

	urlRe := regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/1/2001/record-new/300101/record-file/400101$`)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasSuffix(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stderr: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	line := strings.TrimSpace(out.String())
	if !urlRe.MatchString(line) {
		t.Fatalf("printed %q", line)
	}
	base := line[:strings.Index(line, "/1/2001/")]
	rec, err := mts.ParseURL(line, base)
	if err != nil {
		t.Fatal(err)
	}
	_, flow, err := mts.NewClient().FetchFlow(ctx, rec, "")
	if err != nil {
		t.Fatal(err)
	}
	var media string
	for _, e := range flow.Events {
		if e.Module == mts.ModuleMediaSessionAdd {
			media = e.MediaSessions()[0].URL
			break
		}
	}
	p, err := mtstest.Probe(ctx, media)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Video(); !ok || v.Width != 640 || p.Duration != 30 {
		t.Fatalf("served media %+v", p)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after interrupt; stderr: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake-mts did not stop when canceled")
	}
	if !strings.Contains(errb.String(), "fake MTS Link stopped") || !strings.Contains(errb.String(), `"name":"Лекция 1: Введение в Go"`) {
		t.Fatalf("logs: %s", errb.String())
	}
}

func TestFakeMTSCommandErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fake-mts"}, 2, "give --scenario FILE"},
		{[]string{"fake-mts", "--scenario", bad}, 1, "reading scenario"},
		{[]string{"fake-mts", "--scenario", filepath.Join(mtstest.ScenarioDir(), "demo.json"), "--addr", "nope"}, 1, "listening on nope"},
		{[]string{"fake-mts", "--scenario", filepath.Join(mtstest.ScenarioDir(), "demo.json"), "extra"}, 2, "no arguments"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, map[string]string{"MTSFARM_CACHE_DIR": t.TempDir()}, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}
