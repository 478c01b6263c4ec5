package mtstest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
)

// transientFault answers with an *_once fault when one is aimed at the
// target and this is one of its first requests.
func (s *Server) transientFault(w *logWriter, l *layout, stream, chunk, slide, hit int) bool {
	if f := l.fault(FaultHTTP500Once, stream, chunk, slide); f != nil && hit <= f.Times {
		w.fault = f.Kind
		if stream < 0 && slide < 0 {
			writeJSONError(w, http.StatusInternalServerError, 500, "Internal server error")
		} else {
			http.Error(w, "internal server error", http.StatusInternalServerError)
		}
		return true
	}
	if f := l.fault(FaultHTTP429Once, stream, chunk, slide); f != nil && hit <= f.Times {
		w.fault = f.Kind
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return true
	}
	return false
}

// serveContent serves a body with ranges and Content-Length, applying the
// slow, reset_once and corrupt_once faults aimed at the target.
func (s *Server) serveContent(w *logWriter, r *http.Request, l *layout, stream, chunk, slide, hit int,
	name string, content io.ReadSeeker, size int64, etag string) {
	if f := l.fault(FaultCorruptOnce, stream, chunk, slide); f != nil && hit <= f.Times {
		w.fault = f.Kind
		cut := truncateAt(content, size)
		content, size, etag = io.NewSectionReader(readerAt{content}, 0, cut), cut, ""
	}
	if f := l.fault(FaultResetOnce, stream, chunk, slide); f != nil && hit <= f.Times {
		w.fault = f.Kind
		w.abortAfter = max(size/2, 1)
	}
	if f := l.fault(FaultSlow, stream, chunk, slide); f != nil {
		if w.fault == "" {
			w.fault = f.Kind
		}
		w.rate, w.ctx = f.BytesPerSecond, r.Context()
	}
	if etag != "" {
		w.Header().Set("ETag", `"`+etag+`"`)
	}
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(w, r, name, s.modTime, content)
	if w.abortAfter > 0 && w.n < w.abortAfter && r.Method == http.MethodGet && w.status < 300 {
		// A response shorter than the cut (a small range): drop it anyway.
		w.abort()
	}
}

// serveFile serves a generated file (see serveContent) as contentType; a
// file that cannot be read is a generation error.
func (s *Server) serveFile(w *logWriter, r *http.Request, l *layout, stream, chunk, slide, hit int,
	name, file, contentType, etag string) {
	f, err := os.Open(file)
	if err != nil {
		s.genError(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.genError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	s.serveContent(w, r, l, stream, chunk, slide, hit, name, f, st.Size(), etag)
}

func (s *Server) serveChunk(w *logWriter, r *http.Request, rt route, hit int) {
	l := s.layouts[rt.webinar]
	c := l.chunks[rt.chunk]
	if f := l.fault(FaultMissing, c.Stream, c.Index, -1); f != nil {
		w.fault = f.Kind
		http.NotFound(w, r)
		return
	}
	if f := l.fault(FaultMissingOnce, c.Stream, c.Index, -1); f != nil && hit <= f.Times {
		w.fault = f.Kind
		http.NotFound(w, r)
		return
	}
	if s.transientFault(w, l, c.Stream, c.Index, -1, hit) {
		return
	}
	spec := directSpec(c)
	file, err := s.gen.media(r.Context(), spec)
	if err != nil {
		s.genError(w, r, err)
		return
	}
	s.serveFile(w, r, l, c.Stream, c.Index, -1, hit, path.Base(c.Path), file, "video/mp4", spec.key("mp4"))
}

func (s *Server) serveSlide(w *logWriter, r *http.Request, rt route, hit int) {
	l := s.layouts[rt.webinar]
	sl := l.slides[rt.slide]
	if f := l.fault(FaultMissing, -1, -1, sl.Index); f != nil {
		w.fault = f.Kind
		http.NotFound(w, r)
		return
	}
	if f := l.fault(FaultMissingOnce, -1, -1, sl.Index); f != nil && hit <= f.Times {
		w.fault = f.Kind
		http.NotFound(w, r)
		return
	}
	if s.transientFault(w, l, -1, -1, sl.Index, hit) {
		return
	}
	file, err := s.gen.slide(r.Context(), sl.Color)
	if err != nil {
		s.genError(w, r, err)
		return
	}
	s.serveFile(w, r, l, -1, -1, sl.Index, hit, path.Base(sl.Path), file, "image/jpeg", path.Base(file))
}

// serveHLS serves the §3.3 HLS variant of a chunk: rest is "playlist.m3u8"
// (the master playlist, naming a v1/ variant when the chunk has video, a1/
// when it has only audio), or a variant's index.m3u8 or segment.
func (s *Server) serveHLS(w *logWriter, r *http.Request, rt route, rest string) {
	l := s.layouts[rt.webinar]
	c := l.chunks[rt.chunk]
	if c.HLSURL == "" {
		http.NotFound(w, r)
		return
	}
	if f := l.fault(FaultMissing, c.Stream, c.Index, -1); f != nil {
		w.fault = f.Kind
		http.NotFound(w, r)
		return
	}
	variant := "a1"
	if c.HLSVideo {
		variant = "v1"
	}
	if f := l.fault(FaultSlow, c.Stream, c.Index, -1); f != nil {
		w.fault, w.rate, w.ctx = f.Kind, f.BytesPerSecond, r.Context()
	}
	if rest == "playlist.m3u8" {
		body := masterPlaylist(c, variant)
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		http.ServeContent(w, r, "playlist.m3u8", s.modTime, strings.NewReader(body))
		return
	}
	m := hlsFileRe.FindStringSubmatch(rest)
	if m == nil || m[1] != variant {
		http.NotFound(w, r)
		return
	}
	dir, err := s.gen.hls(r.Context(), hlsSpec(c))
	if err != nil {
		s.genError(w, r, err)
		return
	}
	f, err := os.Open(dir + "/" + m[2])
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if strings.HasSuffix(m[2], ".ts") {
		w.Header().Set("Content-Type", "video/mp2t")
	} else {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	}
	http.ServeContent(w, r, m[2], s.modTime, f)
}

func masterPlaylist(c Chunk, variant string) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	switch {
	case c.HLSVideo && c.HLSAudio:
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=%dx%d,CODECS=\"avc1.42c01e,mp4a.40.2\"\n", c.Width, c.Height)
	case c.HLSVideo:
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=%dx%d,CODECS=\"avc1.42c01e\"\n", c.Width, c.Height)
	default:
		b.WriteString("#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\n")
	}
	b.WriteString(variant + "/index.m3u8\n")
	return b.String()
}
