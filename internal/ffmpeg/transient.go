package ffmpeg

import (
	"errors"
	"regexp"
)

// transientStderr are ffmpeg/ffprobe messages of a failure of the network
// or of the server behind a URL (the object store answering 5xx or 429, a
// refused or reset connection, a timeout, a name that did not resolve):
// the same command may well work a moment later.
var transientStderr = regexp.MustCompile(`(?i)server returned 5(?:\d\d|xx)|server returned 429|` +
	`connection refused|connection reset|connection timed out|operation timed out|network is unreachable|` +
	`no route to host|temporary failure in name resolution|failed to resolve hostname|broken pipe`)

// Transient reports whether err is ffmpeg or ffprobe failing to read an
// input over the network for a reason that passes (see transientStderr),
// as opposed to media that is missing (HTTP 404) or undecodable. It is the
// one place that decides it for the tools' exits.
func Transient(err error) bool {
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Signal != "" {
		return false
	}
	return transientStderr.MatchString(xe.Stderr)
}
