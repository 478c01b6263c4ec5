package plan

import (
	"math"
	"strings"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Placing sessions on the timeline [0, duration] and deciding what each one
// is (issue 4 rules): its kind, whether it is seen and heard, and when.

// Sizes assumed for a video source that has not been probed yet (the spec's
// typical sizes, §2.4: screenshares are about 1080p, webcams 640×360 is
// common). The plan says GeometryKnown = false until every shown source is
// probed, and units are rendered only then.
const (
	assumedScreenWidth, assumedScreenHeight = 1920, 1080
	assumedWebcamWidth, assumedWebcamHeight = 640, 360
)

// place decides a session's kind, flags and span. It returns false when the
// session never plays inside the recording (a warning says why); such a
// session is left out of the plan altogether (nothing to fetch).
//
//   - Video: a screenshare has video (conference camera flags do not apply
//     to a screen); a webcam has video when its conference had hasVideo as
//     of the session's start. Once probed, the file must also have a video
//     stream.
//   - Audio: the conference's hasAudio as of the start (true without a
//     conference) and, once probed, an audio stream in the file.
//   - Kind: no video → audio (heard in the final mix only); else
//     screenshare or webcam.
//   - Span: start = max(0, relativeTime); a negative relativeTime is
//     trimmed and the media offset grows by as much. End = relativeTime
//     plus the API duration (the recording end when there is none), capped
//     by relativeTime plus the real media length once probed, and by the
//     recording end.
//   - Absent media (could not be fetched or decoded, or a probe that shows
//     no usable stream) stays in the plan marked absent, never shown or
//     heard.
func place(s *session, duration float64, opts *Options, w *warnings) bool {
	probe, perr := probeOf(opts, s.id)
	if perr != nil {
		s.absent = "its probe shows no usable media (" + strings.TrimPrefix(perr.Error(), proto.ErrInvalid.Error()+": ") + ")"
	}
	if reason, ok := opts.Absent[s.id]; ok {
		if reason == "" {
			reason = "it could not be fetched or decoded"
		}
		s.absent = reason
		probe = nil
	}
	s.hasVideo = s.screenshare || s.confVideo
	s.hasAudio = s.confAudio
	if probe != nil {
		s.probed = true
		s.hasVideo = s.hasVideo && probe.HasVideo
		s.hasAudio = s.hasAudio && probe.HasAudio
		if s.hasVideo {
			s.width, s.height = probe.Width, probe.Height
		}
	}
	switch {
	case !s.hasVideo:
		s.kind = proto.SourceAudio
	case s.screenshare:
		s.kind = proto.SourceScreenshare
	default:
		s.kind = proto.SourceWebcam
	}

	if s.rawStart >= duration {
		w.add("session %s starts at %s, after the recording ends (%s); it is left out", s.id, secs(s.rawStart), secs(duration))
		return false
	}
	end := duration
	if s.apiDuration > 0 {
		end = math.Min(end, s.rawStart+s.apiDuration)
	}
	short := false // the media ends before the flow says it does
	if probe != nil {
		if real := s.rawStart + probe.Duration; real < end {
			short = s.apiDuration > 0 && probe.Duration < s.apiDuration-1
			end = real
		}
	}
	s.start = round6(math.Max(0, s.rawStart))
	s.offset = round6(math.Max(0, -s.rawStart))
	s.end = round6(end)
	if s.end <= s.start {
		if probe != nil && s.rawStart < 0 && s.rawStart+probe.Duration <= 0 {
			w.add("session %s started %s before the recording and its media (%s) ends before it; it is left out",
				s.id, secs(-s.rawStart), secs(probe.Duration))
		} else {
			w.add("session %s ends before the recording starts (relativeTime %s, duration %s); it is left out",
				s.id, secs(s.rawStart), secs(s.apiDuration))
		}
		return false
	}
	if !s.hasVideo && !s.hasAudio && s.absent == "" {
		w.add("session %s has neither video nor audio (by its conference flags at its start, and its probe when probed); it is left out", s.id)
		return false
	}
	if short {
		w.add("session %s: the media is %s long, the flow says %s; it ends at %s", s.id,
			secs(probe.Duration), secs(s.apiDuration), secs(s.end))
	}
	if s.absent != "" {
		w.add("session %s (%s) is not shown or heard: %s", s.id, s.url, s.absent)
	}
	return true
}

// shown reports whether the session takes part in windows: usable media
// with video. Audio-only sessions are mixed in once at finalize, never in
// windows (so they never split a window and are never heard twice).
func (s *session) shown() bool { return s.absent == "" && s.hasVideo }

// size is the session's video size for the geometry: probed, or assumed by
// kind before the probe.
func (s *session) size() (w, h int) {
	if s.probed {
		return s.width, s.height
	}
	if s.screenshare {
		return assumedScreenWidth, assumedScreenHeight
	}
	return assumedWebcamWidth, assumedWebcamHeight
}
