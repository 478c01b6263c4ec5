package mtstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Options configure a Server.
type Options struct {
	// CacheDir holds the generated media (required); content-addressed, so
	// it may be shared by servers and runs.
	CacheDir string
	// BaseURL is where clients reach the server (http://host:port): the
	// flow's media and slide URLs and the recording URLs start with it.
	BaseURL string
	// FFmpeg is the ffmpeg program (default "ffmpeg" from PATH).
	FFmpeg string
	// Parallel bounds concurrent ffmpeg processes (default 2).
	Parallel int
	Log      zerolog.Logger
}

// Server is the fake MTS Link: the flow API (both endpoint spellings), the
// wowza media, their HLS variants and the slide images of a scenario, with
// its faults, and a log of every request.
type Server struct {
	// URL is the base URL (Options.BaseURL).
	URL string

	sc      *Scenario
	layouts []*layout
	flows   [][2][]byte // per webinar: [edited view, withoutCuts=true]
	gen     *generator
	log     zerolog.Logger
	routes  map[string]route
	modTime time.Time

	mu       sync.Mutex
	requests []Request
	hits     map[string]int
	gets     map[string]int
}

// route is what a media or slide path serves.
type route struct {
	webinar int
	chunk   int // index into the layout's chunks, or -1
	slide   int // index into the layout's slides, or -1
}

// Request is one entry of the request log.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Query  string
	// Range is the Range header, if any.
	Range  string
	Status int
	// Bytes is the body bytes written.
	Bytes int64
	// Cookie says whether a sessionId cookie came (never its value).
	Cookie    bool
	UserAgent string
	// Fault is the fault that shaped the answer, if any.
	Fault string
	// Aborted is true when the connection was dropped on purpose.
	Aborted bool
}

// New builds a server for the scenario. It does not listen: see Serve and
// Start.
func New(sc *Scenario, opts Options) (*Server, error) {
	if sc == nil || len(sc.Webinars) == 0 {
		return nil, errors.New("mtstest: the scenario has no webinars")
	}
	if opts.CacheDir == "" {
		return nil, errors.New("mtstest: a cache dir is required")
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("mtstest: base URL %q: want http://host:port", opts.BaseURL)
	}
	if opts.FFmpeg == "" {
		opts.FFmpeg = "ffmpeg"
	}
	if _, err := exec.LookPath(opts.FFmpeg); err != nil {
		return nil, fmt.Errorf("mtstest: ffmpeg not found (%s): install it or run scripts/test.sh: %w", opts.FFmpeg, err)
	}
	if opts.Parallel == 0 {
		opts.Parallel = 2
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	s := &Server{
		URL: base, sc: sc, log: opts.Log,
		gen:    newGenerator(opts.CacheDir, opts.FFmpeg, opts.Parallel, opts.Log),
		routes: map[string]route{}, hits: map[string]int{}, gets: map[string]int{},
	}
	for wi, w := range sc.Webinars {
		l := newLayout(w, base)
		s.layouts = append(s.layouts, l)
		s.flows = append(s.flows, [2][]byte{l.flowDoc(false), l.flowDoc(true)})
		for ci, c := range l.chunks {
			s.routes[c.Path] = route{webinar: wi, chunk: ci, slide: -1}
		}
		for si, sl := range l.slides {
			if !sl.End {
				if _, ok := s.routes[sl.Path]; !ok {
					s.routes[sl.Path] = route{webinar: wi, chunk: -1, slide: si}
				}
			}
		}
		if t, err := time.Parse(time.DateOnly, w.Date); err == nil && (s.modTime.IsZero() || t.Before(s.modTime)) {
			s.modTime = t
		}
	}
	return s, nil
}

// Scenario is the scenario served.
func (s *Server) Scenario() *Scenario { return s.sc }

// RecordingURL is the URL a user would paste for webinar i:
// BASE/<org>/<event>/record-new/<session>[/record-file/<file>][/<token>].
func (s *Server) RecordingURL(i int) string { return s.layouts[i].recording }

// RecordingURLs lists every webinar's recording URL, in scenario order.
func (s *Server) RecordingURLs() []string {
	var out []string
	for _, l := range s.layouts {
		out = append(out, l.recording)
	}
	return out
}

// Chunks lists webinar i's media chunks in stream, then chunk order.
func (s *Server) Chunks(i int) []Chunk {
	out := make([]Chunk, len(s.layouts[i].chunks))
	for j, c := range s.layouts[i].chunks {
		c.Faults = append([]string(nil), c.Faults...)
		out[j] = c
	}
	return out
}

// Slides lists webinar i's slide events in time order.
func (s *Server) Slides(i int) []SlideInfo {
	return append([]SlideInfo(nil), s.layouts[i].slides...)
}

// Flow is webinar i's flow document as served (withoutCuts=true: the full
// log and duration).
func (s *Server) Flow(i int, withoutCuts bool) []byte {
	if withoutCuts {
		return s.flows[i][1]
	}
	return s.flows[i][0]
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Hits is how many requests asked for exactly this path.
func (s *Server) Hits(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

// ResetLog empties the request log and the hit counts (the *_once faults
// then fire again).
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.hits, s.gets = nil, map[string]int{}, map[string]int{}
}

// Warm generates every media file, HLS variant and slide of the scenario
// ahead of the requests (a 3-hour scenario takes a while).
func (s *Server) Warm(ctx context.Context) error {
	for _, l := range s.layouts {
		for _, c := range l.chunks {
			if _, err := s.gen.media(ctx, directSpec(c)); err != nil {
				return err
			}
			if c.HLSURL != "" {
				if _, err := s.gen.hls(ctx, hlsSpec(c)); err != nil {
					return err
				}
			}
		}
		for _, sl := range l.slides {
			if !sl.End {
				if _, err := s.gen.slide(ctx, sl.Color); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func directSpec(c Chunk) mediaSpec {
	m := hlsSpec(c)
	if !c.DirectVideo {
		m.Video, m.Width, m.Height, m.Color, m.Texture = false, 0, 0, "", ""
	}
	return m
}

// hlsSpec is the full content of the chunk (what the stream recorded).
func hlsSpec(c Chunk) mediaSpec {
	m := mediaSpec{Duration: c.Duration}
	if c.Kind != KindAudio {
		m.Video, m.Width, m.Height, m.Color, m.Texture = true, c.Width, c.Height, c.Color, c.Texture
	}
	if c.Kind != KindScreenshare {
		m.Audio, m.ToneHz, m.SampleRate = true, c.ToneHz, c.SampleRate
	}
	return m
}

// Serve serves on ln until ctx is canceled, then shuts down gracefully
// (5 s for requests in flight, then closes).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("fake MTS server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	s.Close()
	return nil
}

// Close stops media generation in progress and waits for it (Serve does this
// when it returns; call it when serving the handler some other way).
func (s *Server) Close() { s.gen.stop() }

var (
	flowFileRe = regexp.MustCompile(`^/api/event-sessions/([0-9]+)/record-files/([0-9]+)/flow$`)
	flowRe     = regexp.MustCompile(`^/api/eventsessions/([0-9]+)/record$`)
	hlsFileRe  = regexp.MustCompile(`^(v1|a1)/(index\.m3u8|seg[0-9]{3,6}\.ts)$`)
)

// ServeHTTP routes a request: flow endpoints, media, HLS, slides.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &logWriter{ResponseWriter: w}
	_, cookieErr := r.Cookie("sessionId")
	entry := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Range: r.Header.Get("Range"), Cookie: cookieErr == nil, UserAgent: r.UserAgent()}
	defer func() {
		p := recover()
		entry.Status, entry.Bytes, entry.Fault = rw.status, rw.n, rw.fault
		if entry.Status == 0 {
			entry.Status = http.StatusOK
		}
		entry.Aborted = p != nil
		s.mu.Lock()
		s.requests = append(s.requests, entry)
		s.mu.Unlock()
		if p != nil {
			panic(p)
		}
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	s.mu.Lock()
	s.hits[p]++
	// hit numbers the GETs of the path: the *_once faults hit the first
	// ones; a HEAD never gets one.
	hit := math.MaxInt
	if r.Method == http.MethodGet {
		s.gets[p]++
		hit = s.gets[p]
	}
	s.mu.Unlock()

	if m := flowFileRe.FindStringSubmatch(p); m != nil {
		s.serveFlow(rw, r, s.findWebinar(m[1], m[2], true), hit)
		return
	}
	if m := flowRe.FindStringSubmatch(p); m != nil {
		s.serveFlow(rw, r, s.findWebinar(m[1], "", false), hit)
		return
	}
	if rt, ok := s.routes[p]; ok {
		if rt.chunk >= 0 {
			s.serveChunk(rw, r, rt, hit)
		} else {
			s.serveSlide(rw, r, rt, hit)
		}
		return
	}
	if i := strings.Index(p, ".mp4/"); i >= 0 {
		if rt, ok := s.routes[p[:i+4]]; ok && rt.chunk >= 0 {
			s.serveHLS(rw, r, rt, p[i+5:])
			return
		}
	}
	http.NotFound(rw, r)
}

// findWebinar finds the webinar of a flow request; -1 when none.
func (s *Server) findWebinar(session, file string, withFile bool) int {
	for i, w := range s.sc.Webinars {
		if w.EventSessionID.String() != session {
			continue
		}
		if !withFile || w.RecordFileID.String() == file {
			return i
		}
	}
	return -1
}

func writeJSONError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) serveFlow(w *logWriter, r *http.Request, wi, hit int) {
	if wi < 0 {
		writeJSONError(w, http.StatusNotFound, 404, "Record not found")
		return
	}
	l := s.layouts[wi]
	if f := l.fault(FaultMissing, -1, -1, -1); f != nil {
		w.fault = f.Kind
		writeJSONError(w, http.StatusNotFound, 404, "Record not found")
		return
	}
	if s.transientFault(w, l, -1, -1, -1, hit) {
		return
	}
	if l.w.Private {
		c, err := r.Cookie("sessionId")
		tok := r.URL.Query().Get("recordAccessToken")
		ok := (err == nil && c.Value == l.w.SessionCookie) || (tok != "" && strings.EqualFold(tok, l.w.AccessToken))
		if !ok {
			writeJSONError(w, l.w.PrivateStatus, 403, "Access denied: authorization is required to view this record")
			return
		}
	}
	body := s.Flow(wi, r.URL.Query().Get("withoutCuts") == "true")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	s.serveContent(w, r, l, -1, -1, -1, hit, "flow.json", bytes.NewReader(body), int64(len(body)), "")
}

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

func (s *Server) genError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error().Err(err).Str("path", r.URL.Path).Msg("generating media")
	http.Error(w, "fake MTS server could not generate media: "+err.Error(), http.StatusInternalServerError)
}

// truncateAt is where a corrupt_once response ends: two thirds of the way
// to the moov box (which ffmpeg writes last), so the file has no moov.
func truncateAt(content io.ReadSeeker, size int64) int64 {
	moov := size
	var off int64
	hdr := make([]byte, 16)
	for off+8 <= size {
		if _, err := content.Seek(off, io.SeekStart); err != nil {
			break
		}
		if _, err := io.ReadFull(content, hdr[:8]); err != nil {
			break
		}
		n := int64(uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3]))
		if n == 1 {
			if _, err := io.ReadFull(content, hdr[8:16]); err != nil {
				break
			}
			n = 0
			for _, b := range hdr[8:16] {
				n = n<<8 | int64(b)
			}
		}
		if string(hdr[4:8]) == "moov" {
			moov = off
			break
		}
		if n < 8 {
			break
		}
		off += n
	}
	content.Seek(0, io.SeekStart)
	return max(moov*2/3, 1)
}

// readerAt adapts a ReadSeeker (an *os.File or *bytes.Reader, both
// ReaderAt already) for a SectionReader.
type readerAt struct{ rs io.ReadSeeker }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if ra, ok := r.rs.(io.ReaderAt); ok {
		return ra.ReadAt(p, off)
	}
	if _, err := r.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(r.rs, p)
}

// logWriter records the status and body size, throttles (slow) and drops
// the connection after abortAfter body bytes (reset_once).
type logWriter struct {
	http.ResponseWriter
	status     int
	n          int64
	fault      string
	rate       int
	ctx        context.Context
	abortAfter int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	written := 0
	for len(p) > 0 {
		piece := p
		if w.rate > 0 {
			// Push out what was written, then wait for this piece's share
			// of time before writing it. The last piece stays buffered
			// until the handler returns, so the request log has the entry
			// before the client has the last byte.
			piece = p[:min(len(p), max(w.rate/20, 512))]
			http.NewResponseController(w.ResponseWriter).Flush()
			t := time.NewTimer(time.Duration(float64(len(piece)) / float64(w.rate) * float64(time.Second)))
			select {
			case <-w.ctx.Done():
				t.Stop()
				return written, w.ctx.Err()
			case <-t.C:
			}
		}
		if w.abortAfter > 0 && w.n+int64(len(piece)) >= w.abortAfter {
			n, _ := w.ResponseWriter.Write(piece[:w.abortAfter-w.n])
			w.n += int64(n)
			w.abort()
		}
		n, err := w.ResponseWriter.Write(piece)
		w.n += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(piece):]
	}
	return written, nil
}

// abort flushes what was written and drops the connection.
func (w *logWriter) abort() {
	http.NewResponseController(w.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
