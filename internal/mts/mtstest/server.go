package mtstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os/exec"
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
