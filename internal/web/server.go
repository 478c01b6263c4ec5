package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/jobapi"
	"github.com/mtsfarm/mtsfarm/proto"
)

//go:embed static
var static embed.FS

// Config is what a dashboard needs besides its connections.
type Config struct {
	// Token enables the actions (submit, cancel, retry) for a page that
	// sends it; empty makes the dashboard read-only.
	Token string
	Log   zerolog.Logger
}

// Server is the dashboard's http.Handler.
type Server struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store blob.Store
	token [sha256.Size]byte
	write bool
	log   zerolog.Logger
	mux   *http.ServeMux
}

// New makes the dashboard of the farm reached through nc, whose objects
// are in store.
func New(nc *nats.Conn, store blob.Store, cfg Config) (*Server, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &Server{nc: nc, js: js, store: store, log: cfg.Log, mux: http.NewServeMux(),
		token: sha256.Sum256([]byte(cfg.Token)), write: cfg.Token != ""}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /", http.FileServerFS(files))
	s.mux.HandleFunc("GET /api/session", s.session)
	s.mux.HandleFunc("POST /api/login", s.action(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]bool{"actions": true}, nil
	}))
	s.mux.HandleFunc("GET /api/jobs", s.reply(s.jobs))
	s.mux.HandleFunc("GET /api/jobs/{id}", s.reply(s.job))
	s.mux.HandleFunc("GET /api/jobs/{id}/output", s.output)
	s.mux.HandleFunc("GET /api/workers", s.reply(s.workers))
	s.mux.HandleFunc("GET /api/events", s.events)
	s.mux.HandleFunc("POST /api/submit", s.action(s.submit))
	s.mux.HandleFunc("POST /api/jobs/{id}/cancel", s.action(s.jobAction(proto.SubjectCancel)))
	s.mux.HandleFunc("POST /api/jobs/{id}/retry", s.action(s.jobAction(proto.SubjectRetry)))
	s.mux.HandleFunc("POST /api/jobs/{id}/priority", s.action(s.jobAction(proto.SubjectPriority)))
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style, nothing from elsewhere, not framed: a
	// title that slipped through as markup still could not run.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// Serve listens on addr and serves h until ctx ends; it returns the address
// it listens on (port 0: any free port) once listening.
func Serve(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("dashboard stopped")
		}
	}()
	return ln.Addr(), nil
}

// httpError is an error with the status the page gets.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func statusOf(err error) int {
	var he *httpError
	var ae *jobapi.Error
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &ae):
		if n, _ := strconv.Atoi(ae.Code); n >= 400 && n < 600 {
			return n
		}
	case errors.Is(err, jobapi.ErrNoCoordinator):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// reply serves a read: fn's value as JSON, or its error as {"error": …}.
func (s *Server) reply(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			writeJSON(w, statusOf(err), map[string]string{"error": proto.RedactURL(err.Error())})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// action serves a change: only with the token, as a bearer token (a header
// a page of another site cannot send, so no CSRF).
func (s *Server) action(fn func(http.ResponseWriter, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.write {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "this dashboard is read-only: start it with --http-token to submit, cancel and retry from the page"})
			return
		}
		if !s.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "wrong or missing token: enter the --http-token the farm was started with"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		s.reply(func(r *http.Request) (any, error) { return fn(w, r) })(w, r)
	}
}

// authorized compares the bearer token with the server's in constant time
// (both hashed, so neither the length nor a prefix leaks).
func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"actions": s.write})
}

func (s *Server) jobs(r *http.Request) (any, error) {
	var list []jobSummary
	req := proto.JobRequest{State: proto.JobState(r.URL.Query().Get("state")), Limit: 200}
	if err := jobapi.Request(r.Context(), s.nc, proto.SubjectList, req, &list); err != nil {
		return nil, err
	}
	rows := make([]jobRow, 0, len(list))
	for _, j := range list {
		rows = append(rows, rowOf(j))
	}
	return rows, nil
}

func (s *Server) record(ctx context.Context, id string) (*proto.Job, error) {
	if !proto.ValidJobID(id) {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no job %q: job ids are a-z, 0-9, _ and -", id)}
	}
	var j proto.Job
	if err := jobapi.Request(ctx, s.nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

func (s *Server) job(r *http.Request) (any, error) {
	j, err := s.record(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	page := pageOf(j)
	if j.State != proto.StateQueued && j.State != proto.StateResolving {
		var p proto.Plan
		if err := jobapi.Request(r.Context(), s.nc, proto.SubjectPlan, proto.JobRequest{Job: j.ID}, &p); err != nil {
			page.PlanError = "the plan could not be made: " + proto.RedactURL(err.Error())
		} else {
			page.Plan = planViewOf(&p)
		}
	}
	return page, nil
}

// output streams the job's output MP4 from the store as a download (the
// page never sees a store URL).
func (s *Server) output(w http.ResponseWriter, r *http.Request) {
	j, err := s.record(r.Context(), r.PathValue("id"))
	if err == nil && (j.State != proto.StateDone || j.OutputKey == "") {
		err = &httpError{http.StatusNotFound, fmt.Sprintf("job %s is %s: it has no output yet", j.ID, j.State)}
	}
	if err != nil {
		writeJSON(w, statusOf(err), map[string]string{"error": proto.RedactURL(err.Error())})
		return
	}
	rc, info, err := s.store.Get(r.Context(), j.OutputKey)
	if err != nil {
		writeJSON(w, statusOf(err), map[string]string{"error": "reading the output from the object store: " + proto.RedactURL(err.Error())})
		return
	}
	defer rc.Close()
	name := j.OutputKey[strings.LastIndexByte(j.OutputKey, '/')+1:]
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	if info.Size > 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.log.Warn().Err(err).Str("job", j.ID).Msg("dashboard: sending the output")
	}
}

func (s *Server) workers(r *http.Request) (any, error) {
	kv, err := s.js.KeyValue(r.Context(), proto.BucketWorkers)
	if err != nil {
		return nil, fmt.Errorf("opening the workers bucket: %w", err)
	}
	lister, err := kv.ListKeys(r.Context())
	if err != nil {
		return nil, fmt.Errorf("listing workers: %w", err)
	}
	rows := []workerRow{}
	for key := range lister.Keys() {
		e, err := kv.Get(r.Context(), key)
		if err != nil {
			continue // expired between the list and the get
		}
		var wi proto.WorkerInfo
		if json.Unmarshal(e.Value(), &wi) != nil {
			continue
		}
		rows = append(rows, workerOf(wi))
	}
	return rows, nil
}

// submitForm is what the page's submit form sends: one URL or a list (one
// per line, # comments), and the options of the job API.
type submitForm struct {
	URLs          string `json:"urls"`
	Course        string `json:"course"`
	SessionCookie string `json:"session_cookie"`
	Priority      int    `json:"priority"`
	Force         bool   `json:"force"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) (any, error) {
	var f submitForm
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &httpError{http.StatusBadRequest, "reading the form: " + err.Error()}
	}
	req := proto.SubmitRequest{Course: strings.TrimSpace(f.Course), SessionCookie: strings.TrimSpace(f.SessionCookie),
		Priority: f.Priority, Force: f.Force}
	for _, line := range strings.Split(f.URLs, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			req.URLs = append(req.URLs, line)
		}
	}
	if len(req.URLs) == 0 {
		return nil, &httpError{http.StatusBadRequest, "give a recording URL (or several, one per line)"}
	}
	var reply proto.SubmitReply
	if err := jobapi.Request(r.Context(), s.nc, proto.SubjectSubmit, req, &reply); err != nil {
		return nil, err
	}
	for i := range reply.Jobs {
		reply.Jobs[i].URL = proto.RedactURL(reply.Jobs[i].URL)
	}
	return reply, nil
}

func (s *Server) jobAction(subject string) func(http.ResponseWriter, *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if !proto.ValidJobID(id) {
			return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no job %q", id)}
		}
		req := proto.JobRequest{Job: id}
		if subject == proto.SubjectPriority {
			var body struct {
				Priority *int `json:"priority"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&body); err != nil || body.Priority == nil {
				return nil, &httpError{http.StatusBadRequest, `give the priority: {"priority": 1} (higher first, 0 is normal)`}
			}
			req.Priority = body.Priority
		}
		var j proto.Job
		if err := jobapi.Request(r.Context(), s.nc, subject, req, &j); err != nil {
			return nil, err
		}
		return pageOf(&j).jobRow, nil
	}
}
