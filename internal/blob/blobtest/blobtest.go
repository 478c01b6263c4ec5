// Package blobtest is the conformance suite every blob.Store passes: the local
// directory store and the S3 store (against a real MinIO process) run the
// same tests, so code written against blob.Store behaves the same on both.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

func testPutGetKnownSize(t *testing.T, s blob.Store) {
	start := time.Now()
	want := data(1, 100<<10+7)
	info := put(t, s, "media/abc.mp4", want, blob.PutOptions{})
	if info.Key != "media/abc.mp4" || info.Size != int64(len(want)) {
		t.Errorf("Put Info = %+v; want key media/abc.mp4, size %d", info, len(want))
	}
	checkModTime(t, "Put", info.ModTime, start)
	got, ginfo := get(t, s, "media/abc.mp4")
	if !bytes.Equal(got, want) {
		t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(want))
	}
	if ginfo.Size != int64(len(want)) || ginfo.Key != "media/abc.mp4" || ginfo.ContentType != blob.DefaultContentType {
		t.Errorf("Get Info = %+v; want size %d, content type %s", ginfo, len(want), blob.DefaultContentType)
	}
	st, err := s.Stat(context.Background(), "media/abc.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(want)) || st.Key != "media/abc.mp4" || st.ContentType != blob.DefaultContentType || st.Metadata != nil {
		t.Errorf("Stat = %+v; want size %d, default content type, no metadata", st, len(want))
	}
	checkModTime(t, "Stat", st.ModTime, start)
	if ok, err := s.Exists(context.Background(), "media/abc.mp4"); !ok || err != nil {
		t.Errorf("Exists = %v, %v; want true, nil", ok, err)
	}

	// A reader is read from its current position, also when it could be
	// read at offsets and the object takes several parts.
	big := data(11, StreamSize)
	r := bytes.NewReader(big)
	if _, err := r.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "seeked", r, int64(len(big)-100), blob.PutOptions{}); err != nil {
		t.Fatalf("Put of a partly read reader: %v", err)
	}
	if got, _ := get(t, s, "seeked"); !bytes.Equal(got, big[100:]) {
		t.Errorf("Put of a reader positioned at 100 stored %d bytes that are not the reader's rest", len(got))
	}

	// An empty object is an object.
	put(t, s, "empty", nil, blob.PutOptions{})
	if got, info := get(t, s, "empty"); len(got) != 0 || info.Size != 0 {
		t.Errorf("empty object: got %d bytes, Info size %d", len(got), info.Size)
	}
}

func testPutStreamUnknownSize(t *testing.T, s blob.Store) {
	ctx := context.Background()
	// The struct hides the stream's type so no store can find its length.
	info, err := s.Put(ctx, "media/stream.ts", struct{ io.Reader }{NewStream(2, StreamSize)}, -1,
		blob.PutOptions{ContentType: "video/mp2t"})
	if err != nil {
		t.Fatalf("Put(size -1): %v", err)
	}
	if info.Size != StreamSize {
		t.Errorf("Put Info.Size = %d; want %d", info.Size, StreamSize)
	}
	want, _, _ := sum(NewStream(2, StreamSize))
	rc, ginfo, err := s.Get(ctx, "media/stream.ts")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, n, err := sum(rc)
	if err != nil {
		t.Fatalf("reading the stream back: %v", err)
	}
	if n != StreamSize || got != want {
		t.Fatalf("read back %d bytes (sha256 match %v); want %d identical bytes", n, got == want, StreamSize)
	}
	if ginfo.Size != StreamSize || ginfo.ContentType != "video/mp2t" {
		t.Errorf("Get Info = %+v; want size %d, video/mp2t", ginfo, StreamSize)
	}
}

func testPutShortReader(t *testing.T, s blob.Store) {
	// A longer reader: exactly size bytes are stored.
	long := strings.NewReader("abcdef")
	if _, err := s.Put(context.Background(), "long", long, 3, blob.PutOptions{}); err != nil {
		t.Fatalf("Put of 3 bytes from a longer reader: %v", err)
	}
	if got, info := get(t, s, "long"); string(got) != "abc" || info.Size != 3 {
		t.Errorf("Put(size 3) of \"abcdef\" stored %q", got)
	}

	_, err := s.Put(context.Background(), "short", bytes.NewReader(make([]byte, 500)), 1000, blob.PutOptions{})
	if err == nil {
		t.Fatal("Put of 500 bytes announced as 1000 succeeded")
	}
	mustNotExist(t, s, "short")
}

func testPutFile(t *testing.T, s blob.Store) {
	// Larger than two S3 parts at the minimum part size: S3 stores upload
	// it as a parallel multipart upload from file sections.
	want := data(3, StreamSize)
	path := filepath.Join(t.TempDir(), "unit.ts")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.PutFile(context.Background(), "jobs/j1/units/00000-g1.ts", path, blob.PutOptions{ContentType: "video/mp2t"})
	if err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if info.Size != int64(len(want)) || info.ContentType != "video/mp2t" {
		t.Errorf("PutFile Info = %+v", info)
	}
	if got, _ := get(t, s, "jobs/j1/units/00000-g1.ts"); !bytes.Equal(got, want) {
		t.Fatal("PutFile then Get: content differs")
	}
	if _, err := s.PutFile(context.Background(), "missing", filepath.Join(t.TempDir(), "nope"), blob.PutOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PutFile of a missing file: %v; want an error wrapping os.ErrNotExist", err)
	}
	mustNotExist(t, s, "missing")
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "k", []byte("first version, longer"), blob.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"v": "1"}})
	put(t, s, "k", []byte("second"), blob.PutOptions{})
	got, info := get(t, s, "k")
	if string(got) != "second" || info.Size != 6 {
		t.Fatalf("after overwrite Get = %q (size %d); want \"second\"", got, info.Size)
	}
	st, err := s.Stat(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if st.ContentType != blob.DefaultContentType || st.Metadata != nil {
		t.Errorf("after overwrite Stat = %+v; the old content type and metadata must be gone", st)
	}
	if l := listAll(t, s); !slices.Equal(l, []string{"k"}) {
		t.Errorf("List = %q; want [k]", l)
	}
}

// testOverwriteIsAtomic overwrites one key with two alternating contents
// while readers check they always see one whole version.
func testOverwriteIsAtomic(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const size = 256 << 10
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
	put(t, s, "atomic", versions[0], blob.PutOptions{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, _, err := s.Get(ctx, "atomic")
				if err != nil {
					errs <- fmt.Errorf("Get during overwrite: %w", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reading during overwrite: %w", err)
					return
				}
				if len(b) != size || (!bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1])) {
					errs <- fmt.Errorf("read a mixed or partial object (%d bytes)", len(b))
					return
				}
			}
		})
	}
	for i := range 10 {
		put(t, s, "atomic", versions[(i+1)%2], blob.PutOptions{})
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testUploadInProgressIsInvisible holds an upload open halfway and checks no
// method sees it (no temporary file, no partial object) until it completes.
func testUploadInProgressIsInvisible(t *testing.T, s blob.Store) {
	for _, size := range []int64{-1, StreamSize} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			ctx := context.Background()
			pr, pw := io.Pipe()
			type result struct {
				info blob.Info
				err  error
			}
			res := make(chan result, 1)
			go func() {
				info, err := s.Put(ctx, "pending/obj", pr, size, blob.PutOptions{})
				pr.CloseWithError(err)
				res <- result{info, err}
			}()
			src := newStream(4, StreamSize)
			if _, err := io.CopyN(pw, src, blob.MinPartSize+1000); err != nil {
				t.Fatalf("writing the first half: %v", err)
			}
			mustNotExist(t, s, "pending/obj")
			if l, err := s.List(ctx, "pending/"); err != nil || len(l) != 0 {
				t.Fatalf("List(pending/) during the upload = %v, %v; want nothing", keys(l), err)
			}
			if _, err := io.Copy(pw, src); err != nil {
				t.Fatalf("writing the rest: %v", err)
			}
			pw.Close()
			r := <-res
			if r.err != nil {
				t.Fatalf("Put: %v", r.err)
			}
			if st, err := s.Stat(ctx, "pending/obj"); err != nil || st.Size != StreamSize {
				t.Fatalf("Stat after the upload = %+v, %v; want size %d", st, err, StreamSize)
			}
			if l := listAll(t, s); !slices.Equal(l, []string{"pending/obj"}) {
				t.Fatalf("List = %q; want only pending/obj", l)
			}
			if err := s.Delete(ctx, "pending/obj"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
