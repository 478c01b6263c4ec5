package proto

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Object keys. Every key mtsfarm writes is built here from validated parts,
// and every key read from a message is checked with ValidKey, so nothing from
// a user or a flow reaches a key or a file path unsanitized.

// Unit file extensions: MPEG-TS video (Annex B with in-band parameter sets,
// so units from different encoders join by stream copy) and FLAC audio
// (lossless; AAC is encoded once, at the final mix).
const (
	UnitVideoExt = "ts"
	UnitAudioExt = "flac"
)

var extRe = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// ErrBadKey is wrapped by key validation errors.
var ErrBadKey = fmt.Errorf("%w: bad object key", ErrInvalid)

// ValidKey checks an object key: non-empty, at most 1024 bytes of valid UTF-8,
// relative, '/'-separated segments that are neither empty, "." nor "..", no
// backslash, NUL or control characters.
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadKey)
	case len(key) > 1024:
		return fmt.Errorf("%w: longer than 1024 bytes", ErrBadKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q is absolute", ErrBadKey, key)
	case strings.ContainsRune(key, '\\'):
		return fmt.Errorf("%w: %q contains a backslash", ErrBadKey, key)
	}
	for _, r := range key {
		if r == 0 || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q contains a control character", ErrBadKey, key)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, . or .. segment", ErrBadKey, key)
		}
	}
	return nil
}

func urlHash(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

func cleanExt(ext string) string {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	if !extRe.MatchString(ext) {
		return "bin"
	}
	return ext
}

// MediaKey is the content-addressed key of a media chunk: one object per
// source URL, shared by every job that uses it.
func MediaKey(sourceURL, ext string) string {
	return "media/" + urlHash(sourceURL) + "." + cleanExt(ext)
}

// SlideKey is the content-addressed key of a slide image.
func SlideKey(sourceURL, ext string) string {
	return "slides/" + urlHash(sourceURL) + "." + cleanExt(ext)
}

// ProbeKey is the key of the probe sidecar (MediaInfo JSON) of a stored
// media object, written after the object validated.
func ProbeKey(mediaKey string) string { return mediaKey + ".probe.json" }

func jobKey(job, rest string) string {
	if !ValidJobID(job) {
		// Job ids are validated at intake; reaching here is a bug, and the
		// key must still never escape the jobs/ prefix.
		job = "invalid-" + urlHash(job)[:16]
	}
	return "jobs/" + job + "/" + rest
}

// FlowKey is where the resolved flow JSON of a job is stored.
func FlowKey(job string) string { return jobKey(job, "flow.json") }

// PlanKey is where the plan of a job is stored.
func PlanKey(job string) string { return jobKey(job, "plan.json") }

// UnitVideoKey is where a rendered unit's video goes. generation is part of
// the key so a re-render never overwrites a unit another worker still writes.
func UnitVideoKey(job string, index, generation int) string {
	return jobKey(job, fmt.Sprintf("units/%05d-g%d.%s", index, generation, UnitVideoExt))
}

// UnitAudioKey is where a rendered unit's lossless audio goes.
func UnitAudioKey(job string, index, generation int) string {
	return jobKey(job, fmt.Sprintf("audio/%05d-g%d.%s", index, generation, UnitAudioExt))
}

// JobPrefix is the prefix of every object of a job.
func JobPrefix(job string) string { return jobKey(job, "") }

// OutputKey is where the finished MP4 of a job goes; name is sanitized.
func OutputKey(name string) string { return "outputs/" + SanitizeName(name) + ".mp4" }

var unsafeRun = regexp.MustCompile(`[\s/\\:*?"<>|]+`)

// SanitizeName turns a webinar title into a safe file name: runs of
// whitespace and / \ : * ? " < > | become one "_" (as mtslinker does, plus the
// backslash), control characters are dropped, leading dots and underscores
// are trimmed, and the result is cut to 180 bytes on a rune boundary. An empty
// result is "webinar".
func SanitizeName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) && !unicode.IsSpace(r) {
			return -1
		}
		return r
	}, name)
	name = unsafeRun.ReplaceAllString(name, "_")
	name = strings.Trim(name, "._")
	if len(name) > 180 {
		cut := 180
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = strings.TrimRight(name[:cut], "._")
	}
	if name == "" {
		return "webinar"
	}
	return name
}
