// Package fsname makes file and folder names from untrusted text (webinar
// titles, course names) that every common filesystem accepts: NTFS and FAT
// (Windows reserved names and characters, no trailing dot or space), ext4,
// APFS and the SMB/NFS shares archives live on (a name of at most 255
// bytes). Letters of every script are kept, Cyrillic included; only what a
// filesystem refuses or misreads is replaced. It is pure: no I/O.
package fsname

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the longest name Component returns: below the 255-byte limit
// of NTFS, ext4 and APFS, with room for a " (12)" and an extension.
const MaxBytes = 200

// forbidden are the characters Windows refuses in a name (and / everywhere).
const forbidden = `<>:"/\|?*`

var spaces = regexp.MustCompile(`\s+`)

// reserved are the device names Windows refuses as a name, with or without
// an extension.
var reserved = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}

func init() {
	for _, p := range []string{"COM", "LPT"} {
		for _, d := range "0123456789¹²³" {
			reserved[p+string(d)] = true
		}
	}
}

// Component turns s into one safe path component: control characters
// dropped, each of <>:"/\|? * replaced by "_", whitespace runs become one
// space, leading and trailing spaces and dots trimmed, a Windows device name
// (CON, NUL, COM1, … with any extension) prefixed with "_", cut to MaxBytes
// on a character boundary. An empty result is "untitled".
func Component(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError || unicode.IsControl(r) && !unicode.IsSpace(r):
			return -1
		case strings.ContainsRune(forbidden, r):
			return '_'
		case unicode.Is(unicode.Cf, r): // zero-width and bidi controls
			return -1
		}
		return r
	}, s)
	s = spaces.ReplaceAllString(s, " ")
	s = strings.Trim(s, " .")
	s = cut(s, MaxBytes)
	if s == "" {
		return "untitled"
	}
	stem, _, _ := strings.Cut(s, ".")
	if reserved[strings.ToUpper(strings.TrimRight(stem, " "))] {
		s = cut("_"+s, MaxBytes)
	}
	return s
}

// cut shortens s to at most n bytes on a rune boundary, trimming what a
// name may not end with.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " .")
}

// Path joins a slash-separated relative path whose every component is made
// safe with Component; empty components, "." and ".." are dropped, so the
// result never leaves the folder it is joined to. ext (".mp4") is added to
// the last component unless it already ends with it; the stem is cut so
// the component with ext stays within MaxBytes.
func Path(rel, ext string) string {
	var parts []string
	for _, p := range strings.Split(rel, "/") {
		if strings.Trim(p, " .") == "" {
			continue
		}
		parts = append(parts, Component(p))
	}
	if len(parts) == 0 {
		parts = []string{"untitled"}
	}
	last := parts[len(parts)-1]
	if ext != "" && strings.HasSuffix(strings.ToLower(last), strings.ToLower(ext)) {
		last = strings.TrimSpace(last[:len(last)-len(ext)])
	}
	last = cut(last, MaxBytes-len(ext))
	if last == "" {
		last = "untitled"
	}
	parts[len(parts)-1] = last + ext
	return strings.Join(parts, "/")
}

// Numbered is name with " (n)" before its extension ext: "a.mp4" → "a (2).mp4".
func Numbered(name, ext string, n int) string {
	stem := strings.TrimSuffix(name, ext)
	return stem + " (" + strconv.Itoa(n) + ")" + ext
}
