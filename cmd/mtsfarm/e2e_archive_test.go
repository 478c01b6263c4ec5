package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

// TestE2EArchiveCourse archives the bundled course (course-archive.json) as
// an archivist would, with `mtsfarm archive` on the embedded farm: five
// webinars — one private and given no cookie, one with a missing chunk, two
// with the same title — and a malformed entry. The first run is
// interrupted after its first recording; its report is complete and says
// so. The second run resumes: every good recording archived under its
// course/date/title name (the same titles numbered), the private one failed
// with what to do, the malformed one invalid, exit status 1. The third run
// finds everything archived: it makes no request for media and renders
// nothing. A fourth, with the cookie in the manifest, archives the private
// one and only it.
func TestE2EArchiveCourse(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	sc := e2eScenario(t, "course-archive.json")
	fake := mtstest.Start(t, sc)
	dir := t.TempDir()
	out, data := filepath.Join(dir, "out"), filepath.Join(dir, "data")
	manifest := func(cookie string) string {
		var b strings.Builder
		b.WriteString("course: Go для всех\nrecordings:\n")
		for i := range sc.Webinars {
			date := sc.Webinars[i].Date
			if i == 4 {
				date = sc.Webinars[3].Date // two sessions of one title on one day
			}
			fmt.Fprintf(&b, "  - url: %s\n    date: %s\n", fake.RecordingURL(i), date)
			if i == 1 && cookie != "" {
				fmt.Fprintf(&b, "    session_cookie: %s\n", cookie)
			}
		}
		b.WriteString("  - url: https://example.com/1/2/record-new/3\n")
		path := filepath.Join(dir, "course.yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	args := func(file string) []string {
		return []string{"archive", "--mts-base-url", fake.URL, "--data-dir", data, "--out-dir", out,
			"--progress", "lines", "--parallel", "2", file}
	}
	list := manifest("")

	// Run 1, interrupted once a recording is archived.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if r, err := readReport(out); err == nil && r.count(statusDone) > 0 {
				cancel()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	code, stdout, stderr := e2eCommand(ctx, nil, args(list)...)
	r1, err := readReport(out)
	if err != nil {
		t.Fatalf("no report after an interrupted run (exit %d): %v\n%s", code, err, stderr)
	}
	if code == 0 || !r1.Interrupted || len(r1.Recordings) != 6 || r1.count(statusDone) == 0 ||
		r1.count(statusInterrupted) == 0 || !strings.Contains(stderr, "run the same command again to resume") {
		t.Fatalf("interrupted run: exit %d, report %+v\n%s\n%s", code, r1, stdout, stderr)
	}

	// Run 2 resumes.
	start := time.Now()
	code, stdout, stderr = e2eCommand(context.Background(), nil, args(list)...)
	resumeTook := time.Since(start)
	r2, err := readReport(out)
	if err != nil || code != 1 {
		t.Fatalf("resumed run: exit %d (want 1: the private one fails), report error %v\n%s\n%s", code, err, stdout, stderr)
	}
	t.Logf("resumed run: %s\n%s", resumeTook, stdout)
	title := func(i int) string { return sc.Webinars[i].Name }
	want := []struct{ status, output string }{
		{"", "Go для всех/2026-09-01 " + title(0) + ".mp4"},
		{statusFailed, ""},
		{"", "Go для всех/2026-09-15 " + title(2) + ".mp4"},
		{"", "Go для всех/2026-09-22 " + title(3) + ".mp4"},
		{"", "Go для всех/2026-09-22 " + title(4) + " (2).mp4"},
		{statusInvalid, ""},
	}
	for i, w := range want {
		rec := r2.Recordings[i]
		ok := rec.Status == w.status
		if w.status == "" {
			ok = rec.Status == statusDone || rec.Status == statusSkipped
		}
		if !ok || rec.Output != w.output {
			t.Errorf("recording %d: %s %q, want %q", i+1, rec.Status, rec.Output, w.output)
		}
		if w.output != "" {
			e2eCheckDuration(t, filepath.Join(out, w.output), sc.Webinars[i].Duration)
		}
	}
	if rec := r2.Recordings[1]; !strings.Contains(rec.Error, "private") || !strings.Contains(rec.Error, "session") || rec.Hint == "" {
		t.Errorf("the private recording's error says nothing of what to do: %+v", rec)
	}
	if rec := r2.Recordings[2]; len(rec.Warnings) == 0 {
		t.Errorf("the recording with a missing chunk has no warning: %+v", rec)
	}
	if rec := r2.Recordings[5]; !strings.Contains(rec.Error, "not an MTS Link") {
		t.Errorf("the malformed entry: %+v", rec)
	}
	var wantFiles []string
	for _, w := range want {
		if w.output != "" {
			wantFiles = append(wantFiles, w.output)
		}
	}
	if names := e2eFiles(t, out); !containsAll(names, wantFiles...) || len(names) != len(wantFiles)+1 {
		t.Errorf("files in the archive: %q; want %q and the report", names, wantFiles)
	}

	// Run 3: everything archived is skipped, no media is asked for.
	gets := e2eAllMediaGets(fake, len(sc.Webinars))
	start = time.Now()
	code, stdout, stderr = e2eCommand(context.Background(), nil, args(list)...)
	againTook := time.Since(start)
	r3, _ := readReport(out)
	if code != 1 || r3 == nil || r3.count(statusSkipped) != 4 {
		t.Fatalf("third run: exit %d, report %+v\n%s\n%s", code, r3, stdout, stderr)
	}
	if after := e2eAllMediaGets(fake, len(sc.Webinars)); after != gets {
		t.Errorf("the third run asked for media %d times; want 0", after-gets)
	}
	t.Logf("third run over an archived course: %s, %.2f of the resumed run's %s", againTook,
		againTook.Seconds()/resumeTook.Seconds(), resumeTook)

	// Run 4: the cookie given, the private one is archived and nothing else
	// is rendered again.
	code, stdout, stderr = e2eCommand(context.Background(), nil, args(manifest(mtstest.DefaultSessionCookie))...)
	r4, _ := readReport(out)
	if code != 1 || r4 == nil || r4.Recordings[1].Status != statusDone || r4.count(statusSkipped) != 4 {
		t.Fatalf("run with the cookie: exit %d (want 1: the malformed entry), report %+v\n%s\n%s", code, r4, stdout, stderr)
	}
	e2eCheckDuration(t, filepath.Join(out, r4.Recordings[1].Output), sc.Webinars[1].Duration)
}

func readReport(dir string) (*archiveReport, error) {
	data, err := os.ReadFile(filepath.Join(dir, archiveReportName))
	if err != nil {
		return nil, err
	}
	var r archiveReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *archiveReport) count(status string) int {
	n := 0
	for _, rec := range r.Recordings {
		if rec.Status == status {
			n++
		}
	}
	return n
}

// e2eAllMediaGets counts the GET requests for media and slides of the first
// n webinars.
func e2eAllMediaGets(fake *mtstest.Server, n int) int {
	total := 0
	for wi := range n {
		for _, c := range e2eMediaGets(fake, wi) {
			total += c
		}
	}
	return total
}

// e2eCheckDuration fails unless file is an MP4 with video and audio of
// about want seconds.
func e2eCheckDuration(t *testing.T, file string, want float64) {
	t.Helper()
	p, err := mtstest.Probe(context.Background(), file)
	if err != nil {
		t.Errorf("probing %s: %v", file, err)
		return
	}
	_, video := p.Video()
	_, audio := p.Audio()
	if d := p.Duration; d < want-1 || d > want+1 || !video || !audio {
		t.Errorf("%s lasts %.2f s (video %v, audio %v), want %.0f s with both", file, d, video, audio, want)
	}
}

func containsAll(list []string, want ...string) bool {
	have := map[string]bool{}
	for _, s := range list {
		have[s] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}
