package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

// Defaults of a Runner.
const (
	DefaultGrace     = 5 * time.Second
	DefaultTailBytes = 8 << 10
)

// Runner executes ffmpeg and ffprobe. The zero value is not usable; make one
// with New. A Runner is safe for concurrent use.
type Runner struct {
	FFmpeg  string // path of ffmpeg
	FFprobe string // path of ffprobe
	// Grace is how long a canceled process has between SIGINT (ffmpeg then
	// finishes its output cleanly) and SIGKILL.
	Grace time.Duration
	// TailBytes is how much of stderr is kept for errors.
	TailBytes int
	Log       zerolog.Logger

	detectOnce sync.Once
	caps       Capabilities
}

// New returns a Runner using ffmpeg and ffprobe from PATH.
func New(log zerolog.Logger) *Runner {
	return &Runner{FFmpeg: "ffmpeg", FFprobe: "ffprobe", Grace: DefaultGrace, TailBytes: DefaultTailBytes, Log: log}
}

// ErrNotInstalled is returned when ffmpeg or ffprobe cannot be found.
var ErrNotInstalled = errors.New("ffmpeg/ffprobe not found on PATH: install ffmpeg (scripts/test.sh and scripts/demo.sh do)")

// Run runs ffmpeg with args (without the program name). It prepends
// -hide_banner -nostdin -y and, when onProgress is not nil,
// -progress pipe:1 -nostats, and calls onProgress for every progress block.
// It returns nil on exit status 0, an *ExitError on failure, or an error
// wrapping ctx.Err() when ctx was canceled first.
func (r *Runner) Run(ctx context.Context, args []string, onProgress func(Progress)) error {
	full := []string{"-hide_banner", "-nostdin", "-y"}
	if onProgress != nil {
		full = append(full, "-progress", "pipe:1", "-nostats")
	}
	full = append(full, args...)
	var stdout func(io.Reader)
	if onProgress != nil {
		stdout = func(rd io.Reader) { parseProgress(rd, onProgress) }
	}
	_, err := r.exec(ctx, "ffmpeg", r.FFmpeg, full, stdout)
	return err
}

// output runs a program and returns its stdout (bounded to limit bytes).
func (r *Runner) output(ctx context.Context, program, path string, args []string, limit int64) ([]byte, error) {
	var out []byte
	_, err := r.exec(ctx, program, path, args, func(rd io.Reader) {
		out, _ = io.ReadAll(io.LimitReader(rd, limit))
		_, _ = io.Copy(io.Discard, rd)
	})
	return out, err
}

// exec starts path with args, feeds its stdout to handle (or discards it),
// keeps a tail of stderr, and waits. On ctx cancel the process gets SIGINT,
// then SIGKILL after Grace.
func (r *Runner) exec(ctx context.Context, program, path string, args []string, handle func(io.Reader)) (string, error) {
	if path == "" {
		path = program
	}
	bin, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	grace := r.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cmd.WaitDelay = grace
	tail := newTail(r.TailBytes)
	cmd.Stderr = tail
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", program, err)
	}
	r.Log.Debug().Str("program", program).Strs("args", Redact(args)).Msg("running")
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", program, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if handle != nil {
			handle(stdout)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	<-done
	werr := cmd.Wait()
	stderr := tail.String()
	if ctx.Err() != nil {
		return stderr, fmt.Errorf("%s canceled: %w", program, ctx.Err())
	}
	if werr == nil {
		return stderr, nil
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		xe := &ExitError{Program: program, Args: Redact(args), Code: ee.ExitCode(), Stderr: strings.TrimSpace(stderr)}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			xe.Signal = ws.Signal().String()
		}
		return stderr, xe
	}
	return stderr, fmt.Errorf("running %s: %w", program, werr)
}

// Redact returns args with the query of every URL replaced, so presigned
// URLs and tokens never reach a log.
func Redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if !strings.Contains(a, "://") {
			continue
		}
		if u, err := url.Parse(a); err == nil && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			out[i] = u.String()
		}
	}
	return out
}

// parseProgress reads ffmpeg's -progress key=value stream and calls fn at
// the end of every block.
func parseProgress(rd io.Reader, fn func(Progress)) {
	sc := bufio.NewScanner(rd)
	var p Progress
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "frame":
			p.Frame, _ = strconv.ParseInt(v, 10, 64)
		case "fps":
			p.FPS, _ = strconv.ParseFloat(v, 64)
		case "out_time_us", "out_time_ms": // both are microseconds
			if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
				p.OutTime = time.Duration(us) * time.Microsecond
			}
		case "total_size":
			p.TotalSize, _ = strconv.ParseInt(v, 10, 64)
		case "speed":
			p.Speed, _ = strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		case "progress":
			p.End = v == "end"
			fn(p)
		}
	}
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTail(n int) *tail {
	if n <= 0 {
		n = DefaultTailBytes
	}
	return &tail{n: n}
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.n; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is the kept stderr with the secrets of any URL in it (presigned
// signatures, share tokens) redacted: it ends up in errors, job records and
// events that users see.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return proto.RedactURL(string(t.buf))
}
