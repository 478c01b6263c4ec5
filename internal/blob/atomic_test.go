package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failingReader returns some data, then an error: a download that breaks
// halfway.
type failingReader struct{ n int }

var errBroken = errors.New("connection reset")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestWriteFileAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.ts")
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := writeFileAtomic(context.Background(), dst, &failingReader{n: 100 << 10})
	if !errors.Is(err, errBroken) {
		t.Fatalf("writeFileAtomic = %v; want the reader's error", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Errorf("destination now holds %d bytes; want the old file", len(b))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries in the folder; want only out.ts (no temporary file)", len(entries))
	}
}

func TestWriteFileAtomicCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := writeFileAtomic(ctx, filepath.Join(dir, "x"), strings.NewReader("data"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("writeFileAtomic = %v; want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a canceled write left %d entries", len(entries))
	}
}

func TestCopySized(t *testing.T) {
	var sb strings.Builder
	if n, err := copySized(&sb, strings.NewReader("abcdef"), 4); n != 4 || err != nil || sb.String() != "abcd" {
		t.Errorf("copySized(4) = %d, %v, %q", n, err, sb.String())
	}
	if _, err := copySized(io.Discard, strings.NewReader("ab"), 4); !errors.Is(err, errSize) {
		t.Errorf("copySized of a short reader = %v; want errSize", err)
	}
	if n, err := copySized(io.Discard, strings.NewReader("abcdef"), -1); n != 6 || err != nil {
		t.Errorf("copySized(-1) = %d, %v", n, err)
	}
}

func TestReadURLExpiry(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0s", "12h0m0s"}, {"-1s", "12h0m0s"}, {"1h", "1h0m0s"}, {"1.2s", "2s"}, {"200ms", "1s"}, {"720h", "168h0m0s"},
	} {
		d, _ := time.ParseDuration(c.in)
		if got := readURLExpiry(d).String(); got != c.want {
			t.Errorf("readURLExpiry(%s) = %s; want %s", c.in, got, c.want)
		}
	}
}

func TestNormalizeMetadata(t *testing.T) {
	md, err := normalizeMetadata(map[string]string{"Job-ID": "j1", "title": "Лекция"})
	if err != nil || md["job-id"] != "j1" || md["title"] != "Лекция" || len(md) != 2 {
		t.Errorf("normalizeMetadata = %v, %v", md, err)
	}
	if md, err := normalizeMetadata(map[string]string{}); md != nil || err != nil {
		t.Errorf("empty metadata = %v, %v; want nil, nil", md, err)
	}
}
