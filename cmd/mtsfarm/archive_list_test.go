package main

import (
	"strings"
	"testing"
)

func TestParseArchiveList(t *testing.T) {
	l, err := parseArchiveList([]byte("\xef\xbb\xbf# курс\n\nhttps://my.mts-link.ru/1/2/record-new/3\n  https://my.mts-link.ru/1/2/record-new/4  \n"), ".txt")
	if err != nil || len(l.Entries) != 2 || l.Entries[1].URL != "https://my.mts-link.ru/1/2/record-new/4" || l.Entries[1].Index != 2 {
		t.Fatalf("plain list: %+v %v", l, err)
	}
	yaml := "course: Go для всех\nsession_cookie: abc\nrecordings:\n  - url: u1\n    date: 2026-09-01\n  - url: u2\n    session_cookie: own\n    title: Свой\n  - url: u3\n    date: 1 сентября\n"
	l, err = parseArchiveList([]byte(yaml), "")
	if err != nil || l.Course != "Go для всех" || len(l.Entries) != 3 {
		t.Fatalf("manifest: %+v %v", l, err)
	}
	if e := l.Entries[0]; e.Cookie != "abc" || e.Date != "2026-09-01" || e.Problem != "" {
		t.Errorf("course-wide cookie not applied: %+v", e)
	}
	if e := l.Entries[1]; e.Cookie != "own" || e.Title != "Свой" {
		t.Errorf("own cookie and title: %+v", e)
	}
	if e := l.Entries[2]; !strings.Contains(e.Problem, "YYYY-MM-DD") {
		t.Errorf("a bad date is not the entry's problem: %+v", e)
	}
	js := `{"course": "C", "recordings": [{"url": "u1"}]}`
	if l, err := parseArchiveList([]byte(js), ".json"); err != nil || l.Course != "C" || l.Entries[0].URL != "u1" {
		t.Errorf("JSON manifest: %+v %v", l, err)
	}
	for name, bad := range map[string]string{
		"empty list":      "# nothing\n\n",
		"unknown field":   `{"course": "C", "recordings": [{"url": "u", "cookie": "x"}]}`,
		"no recordings":   "course: C\n",
		"hostile nesting": `{"recordings": [{"url": {"a": [1, 2]}}]}`,
	} {
		if _, err := parseArchiveList([]byte(bad), ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestArchivePath(t *testing.T) {
	e := archiveEntry{Index: 3, Date: "2026-09-15"}
	for _, c := range []struct{ tmpl, course, title, want string }{
		{defaultArchiveName, "Go для всех", "Лекция 3: итоги", "Go для всех/2026-09-15 Лекция 3_ итоги.mp4"},
		{defaultArchiveName, "a/b", "../../etc", "a_b/2026-09-15 .._.._etc.mp4"},
		{"{index} {title}", "", "CON", "03 CON.mp4"},
		{"{title}", "", "CON", "_CON.mp4"},
		{"{course}/{title}", "", "", "webinar.mp4"},
	} {
		if got := archivePath(c.tmpl, c.course, e, c.title, "301"); got != c.want {
			t.Errorf("archivePath(%q, %q, %q) = %q, want %q", c.tmpl, c.course, c.title, got, c.want)
		}
	}
	e.Title = "Своё название"
	if got := archivePath("{title}", "", e, "MTS title", ""); got != "Своё название.mp4" {
		t.Errorf("the manifest's title does not win: %q", got)
	}
}
