package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtsfarm/mtsfarm/internal/fsname"
)

// The archive's input: a plain list of recording URLs, or a manifest in
// JSON or YAML (JSON is read as YAML) that names the course and, per
// recording, a title, a date and a session cookie.

// courseManifest is the manifest form of an archive list.
type courseManifest struct {
	// Course names the course ({course} in output names).
	Course string `yaml:"course"`
	// SessionCookie is the course-wide sessionId cookie for private
	// recordings; a recording's own cookie wins.
	SessionCookie string `yaml:"session_cookie"`
	// Name is the output path template (the --name flag wins).
	Name       string           `yaml:"name"`
	Recordings []manifestRecord `yaml:"recordings"`
}

type manifestRecord struct {
	URL           string `yaml:"url"`
	Title         string `yaml:"title"`
	Date          string `yaml:"date"`
	SessionCookie string `yaml:"session_cookie"`
}

// archiveEntry is one recording to archive.
type archiveEntry struct {
	Index  int    // 1-based, in list order
	URL    string // as written
	Title  string // the manifest's title; empty: the recording's own
	Date   string // YYYY-MM-DD or empty
	Cookie string
	// Problem is why the entry cannot be archived as written (a bad date);
	// the URL itself is checked by the job API.
	Problem string
}

// archiveList is a parsed list or manifest.
type archiveList struct {
	Course  string
	Name    string
	Entries []archiveEntry
}

// maxArchiveList bounds what is read of a list file (a course of 500
// recordings is a few hundred kilobytes).
const maxArchiveList = 4 << 20

// readArchiveList reads FILE ("-" is stdin).
func readArchiveList(path string, stdin io.Reader) (*archiveList, error) {
	var r io.Reader = stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the recording list: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, maxArchiveList+1))
	if err != nil {
		return nil, fmt.Errorf("reading the recording list %s: %w", name, err)
	}
	if len(data) > maxArchiveList {
		return nil, fmt.Errorf("the recording list %s is over %d MiB: split the course", name, maxArchiveList>>20)
	}
	l, err := parseArchiveList(data, filepath.Ext(path))
	if err != nil {
		return nil, fmt.Errorf("reading the recording list %s: %w", name, err)
	}
	if l.Course == "" && path != "-" {
		l.Course = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return l, nil
}

// parseArchiveList parses a list: a manifest when ext is .json, .yaml or
// .yml or the text looks like one (it starts with "{" or has a top-level
// "recordings:"), else one URL per line with blank lines and # comments.
func parseArchiveList(data []byte, ext string) (*archiveList, error) {
	trim := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	manifest := ext == ".json" || ext == ".yaml" || ext == ".yml" || bytes.HasPrefix(trim, []byte("{"))
	if !manifest {
		for _, line := range strings.Split(string(trim), "\n") {
			if strings.HasPrefix(line, "recordings:") || strings.HasPrefix(line, "course:") {
				manifest = true
			}
		}
	}
	if manifest {
		return parseManifest(trim)
	}
	l := &archiveList{}
	sc := bufio.NewScanner(bytes.NewReader(trim))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		l.Entries = append(l.Entries, archiveEntry{Index: len(l.Entries) + 1, URL: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("a line is longer than 64 KiB: one recording URL per line")
	}
	if len(l.Entries) == 0 {
		return nil, errors.New("no recording URLs in it: give one URL per line (# starts a comment), or a JSON/YAML manifest")
	}
	return l, nil
}

func parseManifest(data []byte) (*archiveList, error) {
	var m courseManifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf(`not a course manifest (course, session_cookie, name, recordings: [{url, title, date, session_cookie}]): %w`, err)
	}
	if len(m.Recordings) == 0 {
		return nil, errors.New(`the manifest has no recordings: give "recordings": [{"url": "…"}, …]`)
	}
	l := &archiveList{Course: strings.TrimSpace(m.Course), Name: m.Name}
	for i, r := range m.Recordings {
		e := archiveEntry{Index: i + 1, URL: strings.TrimSpace(r.URL), Title: strings.TrimSpace(r.Title),
			Date: strings.TrimSpace(r.Date), Cookie: r.SessionCookie}
		if e.Cookie == "" {
			e.Cookie = m.SessionCookie
		}
		if e.Date != "" {
			if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
				e.Problem = fmt.Sprintf("date %q is not YYYY-MM-DD: fix it in the manifest", e.Date)
			}
		}
		l.Entries = append(l.Entries, e)
	}
	return l, nil
}

// defaultArchiveName is the output path template of an archive.
const defaultArchiveName = "{course}/{date} {title}.mp4"

// archivePath fills the template for one recording and makes it a safe
// relative path: each placeholder's value is one path component (a "/" in
// a title does not make a folder), the template's own "/" make folders.
// Placeholders: {course}, {title}, {date}, {index} (two digits or more),
// {session} (the recording's event session id).
func archivePath(tmpl, course string, e archiveEntry, title, session string) string {
	if e.Title != "" {
		title = e.Title
	}
	if title == "" {
		title = "webinar"
	}
	value := func(s string) string { return strings.NewReplacer("/", "_", "\\", "_").Replace(s) }
	rel := strings.NewReplacer("{course}", value(course), "{title}", value(title), "{date}", value(e.Date),
		"{index}", fmt.Sprintf("%02d", e.Index), "{session}", value(session)).Replace(tmpl)
	return fsname.Path(rel, ".mp4")
}
