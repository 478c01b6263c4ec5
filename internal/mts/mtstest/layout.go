package mtstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/mts"
)

// Chunk is one recorded file of a stream as the flow lists it, with what its
// media carries: what a test expects to find at that URL.
type Chunk struct {
	Stream, Index int
	Kind          string
	Participant   mts.ID
	// Start and Duration are on the recording timeline (Start may be
	// negative).
	Start, Duration float64
	// SessionID is the mediasession id; ConferenceID or ScreenshareID the
	// stream's owner (as in stream.conference.id / stream.screensharing.id).
	SessionID     string
	ConferenceID  string
	ScreenshareID string
	StreamID      string
	// Path is the URL path of the direct mp4; URL the full URL; HLSURL the
	// §3.3 playlist ("" when the stream has no HLS variant).
	Path, URL, HLSURL string
	Width, Height     int
	Color             string
	Texture           string // "" (solid) or TextureMoving
	ToneHz            int
	SampleRate        int
	// DirectVideo and DirectAudio say what the direct mp4 carries;
	// HLSVideo and HLSAudio what the HLS variant carries.
	DirectVideo, DirectAudio bool
	HLSVideo, HLSAudio       bool
	// Faults are the fault kinds aimed at this chunk.
	Faults []string
}

// SlideInfo is one slide of the presentation as the flow lists it.
type SlideInfo struct {
	Index  int
	At     float64
	Number int
	Color  string
	// End marks the presentation end (no image).
	End       bool
	Path, URL string
	Faults    []string
}

// layout is everything derived from one webinar and the base URL.
type layout struct {
	w      *Webinar
	base   string
	chunks []Chunk
	slides []SlideInfo
	// confID per participant with a conference stream; screenshare id per
	// stream index.
	confID    map[mts.ID]string
	shareID   map[int]string
	epoch     float64
	recording string
}

func shortHash(n int, parts ...any) string {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return hex.EncodeToString(h[:])[:n]
}

func newLayout(w *Webinar, base string) *layout {
	l := &layout{w: w, base: base, confID: map[mts.ID]string{}, shareID: map[int]string{}}
	day, _ := time.Parse(time.DateOnly, w.Date)
	// 10:00 Moscow time.
	l.epoch = float64(day.Add(7 * time.Hour).Unix())
	datePath := strings.ReplaceAll(w.Date, "-", "/")
	sess, file := w.EventSessionID.String(), w.RecordFileID.String()
	l.recording = fmt.Sprintf("%s/%s/%s/record-new/%s", base, w.Org, w.Event, sess)
	if file != "" {
		l.recording += "/record-file/" + file
	}
	if w.AccessToken != "" {
		l.recording += "/" + w.AccessToken
	}
	conf := 5000
	for _, p := range w.Participants {
		for _, s := range w.Streams {
			if s.Participant == p.ID && s.Kind != KindScreenshare {
				conf++
				l.confID[p.ID] = fmt.Sprint(conf)
				break
			}
		}
	}
	share := 6000
	for si, s := range w.Streams {
		if s.Kind == KindScreenshare {
			share++
			l.shareID[si] = fmt.Sprint(share)
		}
	}
	for si := range w.Streams {
		s := &w.Streams[si]
		n := s.chunkCount()
		for ci := range n {
			start := s.Start + float64(ci)*s.ChunkSeconds
			dur := math.Min(s.ChunkSeconds, s.Start+s.Duration-start)
			path := fmt.Sprintf("/api-storage/files/wowza/%s/%s.mp4", datePath, shortHash(32, "media", sess, file, si, ci))
			c := Chunk{
				Stream: si, Index: ci, Kind: s.Kind, Participant: s.Participant,
				Start: round3(start), Duration: round3(dur),
				SessionID: shortHash(24, "ms", sess, file, si, ci),
				StreamID:  fmt.Sprint(7001 + si),
				Path:      path, URL: base + path,
				Width: s.Width, Height: s.Height, Color: s.Color, Texture: s.Texture, ToneHz: s.ToneHz, SampleRate: s.SampleRate,
				DirectVideo: s.Kind != KindAudio, DirectAudio: s.Kind != KindScreenshare,
			}
			if s.Kind == KindScreenshare {
				c.ScreenshareID = l.shareID[si]
			} else {
				c.ConferenceID = l.confID[s.Participant]
			}
			if s.hls() {
				c.HLSURL = mts.HLSURL(c.URL)
				c.HLSVideo, c.HLSAudio = c.DirectVideo, c.DirectAudio
			}
			for _, f := range w.Faults {
				if f.Stream != nil && *f.Stream == si && f.Chunk == ci {
					c.Faults = append(c.Faults, f.Kind)
					if f.Kind == FaultAudioOnlyDirect {
						c.DirectVideo = false
					}
				}
			}
			l.chunks = append(l.chunks, c)
		}
	}
	for i, s := range w.Slides {
		si := SlideInfo{Index: i, At: s.At, Number: s.Number, Color: s.Color, End: s.End}
		if !s.End {
			si.Path = fmt.Sprintf("/api-storage/files/slides/%s/%s.jpg", datePath, shortHash(32, "slide", sess, file, s.Number, s.Color))
			si.URL = base + si.Path
		}
		for _, f := range w.Faults {
			if f.Slide != nil && *f.Slide == i {
				si.Faults = append(si.Faults, f.Kind)
			}
		}
		l.slides = append(l.slides, si)
	}
	return l
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// fault returns the first fault of the kind aimed at the chunk, the slide
// or (both -1) the flow.
func (l *layout) fault(kind string, stream, chunk, slide int) *Fault {
	for i := range l.w.Faults {
		f := &l.w.Faults[i]
		if f.Kind != kind {
			continue
		}
		switch {
		case stream >= 0:
			if f.Stream != nil && *f.Stream == stream && f.Chunk == chunk {
				return f
			}
		case slide >= 0:
			if f.Slide != nil && *f.Slide == slide {
				return f
			}
		default:
			if f.Stream == nil && f.Slide == nil {
				return f
			}
		}
	}
	return nil
}
