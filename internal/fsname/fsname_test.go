package fsname

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestComponent(t *testing.T) {
	for in, want := range map[string]string{
		"Курс «Go для всех», занятие 1": "Курс «Go для всех», занятие 1",
		`a/b\c:d*e?f"g<h>i|j`:           "a_b_c_d_e_f_g_h_i_j",
		"  tabs\tand\nnewlines  ":       "tabs and newlines",
		"ends with dots...":             "ends with dots",
		"...":                           "untitled",
		"":                              "untitled",
		"CON":                           "_CON",
		"con.mp4":                       "_con.mp4",
		"LPT1":                          "_LPT1",
		"COM9.txt":                      "_COM9.txt",
		"CONSOLE":                       "CONSOLE",
		"bell\x07zero\u200bwidth":       "bellzerowidth",
	} {
		if got := Component(in); got != want {
			t.Errorf("Component(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("я", 300) // 600 bytes
	got := Component(long)
	if len(got) > MaxBytes || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Errorf("Component of 600 bytes of Cyrillic: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

func TestPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Курс/2026-03-01 Лекция", "Курс/2026-03-01 Лекция.mp4"},
		{"../../etc/passwd", "etc/passwd.mp4"},
		{"/abs//x.mp4", "abs/x.mp4"},
		{"course/ ", "course.mp4"},
		{"", "untitled.mp4"},
		{"a/NUL", "a/_NUL.mp4"},
	} {
		if got := Path(c.in, ".mp4"); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	last := Path(strings.Repeat("ж", 150), ".mp4")
	if len(last) > MaxBytes || !strings.HasSuffix(last, ".mp4") {
		t.Errorf("long name: %d bytes %q", len(last), last)
	}
	if got := Numbered("a/b.mp4", ".mp4", 2); got != "a/b (2).mp4" {
		t.Errorf("Numbered = %q", got)
	}
}

// FuzzPath: whatever the text, the path stays inside its folder, every
// component is non-empty, valid UTF-8, within MaxBytes, free of forbidden
// characters, and not a Windows device name.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "CON/aux.mp4", "Лекция: 1/2", " . / .. /"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Path(s, ".mp4")
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxBytes || !utf8.ValidString(c) ||
				strings.ContainsAny(c, forbidden) || strings.HasSuffix(c, " ") || strings.HasSuffix(c, ".") {
				t.Fatalf("Path(%q) = %q: bad component %q", s, p, c)
			}
			stem, _, _ := strings.Cut(c, ".")
			if reserved[strings.ToUpper(stem)] {
				t.Fatalf("Path(%q) = %q: reserved name %q", s, p, c)
			}
		}
	})
}
