// Package miniotest runs a real MinIO server process for tests: on a free
// loopback port, with a temporary data directory and random root
// credentials. The minio binary comes from PATH (scripts/test.sh installs it
// into .tools/bin).
//
// One test: srv := miniotest.Start(t). Many tests of one package sharing one
// process (minio takes a moment to start):
//
//	var minio miniotest.Shared
//
//	func TestMain(m *testing.M) { code := m.Run(); minio.Stop(); os.Exit(code) }
//
//	func TestX(t *testing.T) { cfg := minio.Get(t).NewBucket(t); … }
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mtsfarm/mtsfarm/internal/blob"
)

// ErrNoMinio is returned (wrapped) when the minio binary is not on PATH.
var ErrNoMinio = errors.New("minio not found on PATH: run scripts/test.sh, which installs it into .tools/bin")

// TestPartSize is the smallest part size S3 allows (5 MiB): tests use it so
// multipart streams stay small.
const TestPartSize = blob.MinPartSize

// Server is a running minio process.
type Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error         // valid after done
	dir     string        // data and log files
	runDir  string        // this run's data (dir/runN), kept by Restart
	logPath string
	ownDir  bool // dir is removed by Stop
	buckets atomic.Int64
	stop    sync.Once
}

// Start starts a minio server for t and stops it when t ends. A missing
// minio binary fails the test.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := start(t.TempDir(), false)
	if err != nil {
		t.Fatalf("starting minio: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("minio log (%s):\n%s", srv.Endpoint, srv.LogTail())
		}
		srv.Stop()
	})
	return srv
}

// New starts a minio server not tied to a test, with its own temporary
// directory; the caller must Stop it.
func New() (*Server, error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, fmt.Errorf("starting minio: %w", err)
	}
	srv, err := start(dir, true)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting minio: %w", err)
	}
	return srv, nil
}

// start launches minio in dir; a port taken between choosing and binding it
// (another process raced for it) is retried on a new port.
func start(dir string, ownDir bool) (*Server, error) {
	bin, err := exec.LookPath("minio")
	if err != nil {
		return nil, ErrNoMinio
	}
	const attempts = 3
	for i := 1; ; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		srv, err := launch(bin, filepath.Join(dir, fmt.Sprintf("run%d", i)), port)
		if err == nil {
			srv.dir, srv.ownDir = dir, ownDir
			return srv, nil
		}
		if !errors.Is(err, errPortTaken) || i == attempts {
			return nil, err
		}
	}
}

var errPortTaken = errors.New("port taken")

func launch(bin, dir string, port int) (*Server, error) {
	return launchAs(bin, dir, port, "test-"+randHex(8), randHex(20))
}

func launchAs(bin, dir string, port int, access, secret string) (*Server, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	srv := &Server{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: access,
		SecretKey: secret,
		done:      make(chan struct{}),
		runDir:    dir,
	}
	srv.logPath = filepath.Join(dir, "minio.log")
	logf, err := os.OpenFile(srv.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(bin, "server", "--address", srv.Endpoint, "--quiet", filepath.Join(dir, "data"))
	cmd.Env = append(withoutMinioEnv(os.Environ()),
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	srv.cmd = cmd
	go func() {
		srv.exitErr = cmd.Wait()
		close(srv.done)
	}()

	if err := srv.waitReady(30 * time.Second); err != nil {
		srv.Stop()
		tail := srv.LogTail()
		if portTaken.MatchString(tail) {
			return nil, fmt.Errorf("%w: %s: %s", errPortTaken, srv.Endpoint, tail)
		}
		return nil, fmt.Errorf("minio at %s: %w; its log: %s", srv.Endpoint, err, tail)
	}
	return srv, nil
}

var portTaken = regexp.MustCompile(`(?i)already in use|address in use`)

// waitReady polls the readiness endpoint, then proves with an authenticated
// request that the server answering is ours (a process that raced us for the
// port would also answer the health check).
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	c, err := s.client()
	if err != nil {
		return err
	}
	lastErr := errors.New("no answer")
	for {
		select {
		case <-s.done:
			return fmt.Errorf("minio exited before it was ready: %v", s.exitErr)
		default:
		}
		if resp, err := hc.Get("http://" + s.Endpoint + "/minio/health/ready"); err != nil {
			lastErr = err
		} else {
			resp.Body.Close()
			lastErr = fmt.Errorf("health check: %s", resp.Status)
			if resp.StatusCode == http.StatusOK {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := c.ListBuckets(ctx)
				cancel()
				if err == nil {
					return nil
				}
				lastErr = fmt.Errorf("authenticated request: %w", err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", limit, lastErr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Kill kills the server process at once (SIGKILL, as a crash or a lost
// machine): requests fail until Restart.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts a killed server again on the same address, data and keys,
// so clients and presigned URLs made before work again.
func (s *Server) Restart() error {
	bin, err := exec.LookPath("minio")
	if err != nil {
		return ErrNoMinio
	}
	_, port, err := net.SplitHostPort(s.Endpoint)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	n, err := launchAs(bin, s.runDir, p, s.AccessKey, s.SecretKey)
	if err != nil {
		return fmt.Errorf("restarting minio: %w", err)
	}
	s.cmd, s.done, s.exitErr = n.cmd, n.done, nil
	return nil
}

// LogTail is the end of the server's log (for failing tests).
func (s *Server) LogTail() string { return logTail(s.logPath) }

// Stop stops the server: SIGTERM, then SIGKILL after 5 seconds. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.ownDir {
			os.RemoveAll(s.dir)
		}
	})
}

// S3Config is the blob configuration for bucket on this server: the part
// size is TestPartSize and the bucket is created on first use.
func (s *Server) S3Config(bucket string) blob.S3Config {
	return blob.S3Config{
		Endpoint:     s.Endpoint,
		AccessKey:    s.AccessKey,
		SecretKey:    s.SecretKey,
		Bucket:       bucket,
		Region:       "us-east-1",
		PartSize:     TestPartSize,
		CreateBucket: true,
	}
}

// NewBucket returns S3Config for a bucket no other caller of this server
// gets, named after the test.
func (s *Server) NewBucket(t testing.TB) blob.S3Config {
	n := s.buckets.Add(1)
	name := strings.Trim(bucketUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	suffix := fmt.Sprintf("-%d", n)
	if max := 63 - len(suffix); len(name) > max {
		name = strings.TrimRight(name[:max], "-")
	}
	if len(name) < 3 {
		name = "test" + name
	}
	return s.S3Config(name + suffix)
}

var bucketUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Client is a minio-go client with the root credentials, for checks that go
// around the blob package (incomplete uploads, raw objects).
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := s.client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *Server) client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1",
	})
}

// Shared starts one server on first use and shares it between the tests of a
// package; TestMain calls Stop after m.Run. The zero value is ready to use.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it on the first call; a failure to
// start fails t (and every later caller).
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.srv, sh.err = New() })
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.srv
}

// Stop stops the shared server if it was started.
func (sh *Shared) Stop() {
	if sh.srv != nil {
		sh.srv.Stop()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func withoutMinioEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

func logTail(path string) string {
	data, _ := os.ReadFile(path)
	const max = 2000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return strings.TrimSpace(string(data))
}
