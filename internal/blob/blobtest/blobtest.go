// Package blobtest is the conformance suite every blob.Store passes: the local
// directory store and the S3 store (against a real MinIO process) run the
// same tests, so code written against blob.Store behaves the same on both.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
)

// StreamSize is the size of the unknown-length stream the suite uploads: more
// than two parts at S3's minimum part size (5 MiB), so an S3 store configured
// with a small part size does a real multipart stream.
const StreamSize = 2*blob.MinPartSize + 12345

// BadKeys are refused by every method.
var BadKeys = []string{"..", "/abs", "a\x00b", "a/../b", "", "a\\b", "a//b", "./a"}

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGetKnownSize", testPutGetKnownSize},
		{"PutStreamUnknownSize", testPutStreamUnknownSize},
		{"PutShortReader", testPutShortReader},
		{"PutFile", testPutFile},
		{"Overwrite", testOverwrite},
		{"OverwriteIsAtomic", testOverwriteIsAtomic},
		{"UploadInProgressIsInvisible", testUploadInProgressIsInvisible},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"GetFile", testGetFile},
		{"GetFileAtomic", testGetFileAtomic},
		{"ReadURLRange", testReadURLRange},
		{"Metadata", testMetadata},
		{"BadMetadata", testBadMetadata},
		{"CancelMidUpload", testCancelMidUpload},
		{"BadKeys", testBadKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// data returns n deterministic pseudo-random bytes.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8(seedOf(seed)).Read(b)
	return b
}

func seedOf(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

// stream is an io.Reader of n pseudo-random bytes generated on the fly (it
// hides its length: no Len, Seek or ReadAt). After fires once when
// afterBytes have been read, if set.
type stream struct {
	rng        *rand.ChaCha8
	left       int64
	read       int64
	afterBytes int64
	after      func()
}

// NewStream returns a reader of n pseudo-random bytes for seed, the same
// bytes as data(seed, n), without holding them in memory.
func NewStream(seed uint64, n int64) io.Reader { return newStream(seed, n) }

func newStream(seed uint64, n int64) *stream {
	return &stream{rng: rand.NewChaCha8(seedOf(seed)), left: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.rng.Read(p)
	s.left -= int64(n)
	s.read += int64(n)
	if s.after != nil && s.read >= s.afterBytes {
		s.after()
		s.after = nil
	}
	return n, nil
}

func sum(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, n, err
}

func put(t *testing.T, s blob.Store, key string, b []byte, opts blob.PutOptions) blob.Info {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b, info
}

func keys(infos []blob.Info) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Key
	}
	return out
}

func listAll(t *testing.T, s blob.Store) []string {
	t.Helper()
	infos, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatalf("List(\"\"): %v", err)
	}
	return keys(infos)
}

func mustNotExist(t *testing.T, s blob.Store, key string) {
	t.Helper()
	ok, err := s.Exists(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
	}
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%q) error = %v; want ErrNotFound", key, err)
	}
	if slices.Contains(listAll(t, s), key) {
		t.Fatalf("List lists %q", key)
	}
}

func checkModTime(t *testing.T, what string, mt time.Time, start time.Time) {
	t.Helper()
	// Loose bounds: S3 reports whole seconds; this only catches zero or
	// garbage times.
	if mt.Before(start.Add(-time.Minute)) || mt.After(time.Now().Add(time.Minute)) {
		t.Errorf("%s ModTime = %v; want about %v", what, mt, start)
	}
}
