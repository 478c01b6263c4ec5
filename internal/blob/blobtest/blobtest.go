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
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
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

func testNotFound(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "dir/x", []byte("x"), blob.PutOptions{})
	for _, key := range []string{"missing", "dir", "dir/x/y", "dir/xx"} {
		mustNotExist(t, s, key)
		if _, _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get(%q) = %v; want ErrNotFound", key, err)
		}
		if _, err := s.ReadURL(ctx, key, time.Hour); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("ReadURL(%q) = %v; want ErrNotFound", key, err)
		}
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := s.GetFile(ctx, key, dst); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("GetFile(%q) = %v; want ErrNotFound", key, err)
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("GetFile(%q) of a missing key created %s", key, dst)
		}
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "jobs/j1/flow.json", []byte("{}"), blob.PutOptions{Metadata: map[string]string{"a": "b"}})
	put(t, s, "jobs/j1/plan.json", []byte("{}"), blob.PutOptions{})
	if err := s.Delete(ctx, "jobs/j1/flow.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustNotExist(t, s, "jobs/j1/flow.json")
	if err := s.Delete(ctx, "jobs/j1/flow.json"); err != nil {
		t.Errorf("second Delete: %v; want nil (idempotent)", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a key that never existed: %v; want nil", err)
	}
	// A "folder" is not an object: deleting it deletes nothing.
	if err := s.Delete(ctx, "jobs/j1"); err != nil {
		t.Errorf("Delete(jobs/j1): %v", err)
	}
	if l := listAll(t, s); !slices.Equal(l, []string{"jobs/j1/plan.json"}) {
		t.Errorf("List = %q; want [jobs/j1/plan.json]", l)
	}
	// Re-creating a deleted key starts clean: no metadata from before.
	put(t, s, "jobs/j1/flow.json", []byte("{}"), blob.PutOptions{})
	if st, err := s.Stat(ctx, "jobs/j1/flow.json"); err != nil || st.Metadata != nil {
		t.Errorf("Stat after re-create = %+v, %v; want no metadata", st, err)
	}
}

func testList(t *testing.T, s blob.Store) {
	ctx := context.Background()
	all := []string{
		"jobs/j1/units/00001-g1.ts", "jobs/j1/units/00000-g1.ts", "jobs/j1/flow.json",
		"jobs/j10/flow.json", "jobs/j1-x", "jobs/j2/a", "media/x.mp4", "z",
	}
	for i, k := range all {
		put(t, s, k, data(uint64(10+i), i*10), blob.PutOptions{ContentType: "text/plain"})
	}
	sorted := slices.Sorted(slices.Values(all))
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"jobs/j1/", []string{"jobs/j1/flow.json", "jobs/j1/units/00000-g1.ts", "jobs/j1/units/00001-g1.ts"}},
		{"jobs/j1", []string{"jobs/j1-x", "jobs/j1/flow.json", "jobs/j1/units/00000-g1.ts", "jobs/j1/units/00001-g1.ts", "jobs/j10/flow.json"}},
		{"jobs/j1/units/0000", []string{"jobs/j1/units/00000-g1.ts", "jobs/j1/units/00001-g1.ts"}},
		{"media/", []string{"media/x.mp4"}},
		{"jobs/j1/flow.json", []string{"jobs/j1/flow.json"}},
		{"nothing/", nil},
		{"z/", nil},
	}
	for _, c := range cases {
		infos, err := s.List(ctx, c.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", c.prefix, err)
			continue
		}
		if got := keys(infos); !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %q; want %q", c.prefix, got, c.want)
		}
		for _, in := range infos {
			i := slices.Index(all, in.Key)
			if in.Size != int64(i*10) || in.ModTime.IsZero() {
				t.Errorf("List(%q): %s has size %d, mod time %v; want size %d and a time", c.prefix, in.Key, in.Size, in.ModTime, i*10)
			}
		}
	}
}

func testGetFile(t *testing.T, s blob.Store) {
	want := data(5, 200<<10)
	put(t, s, "jobs/j1/plan.json", want, blob.PutOptions{ContentType: "application/json"})
	dst := filepath.Join(t.TempDir(), "new", "sub", "plan.json")
	info, err := s.GetFile(context.Background(), "jobs/j1/plan.json", dst)
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GetFile wrote %d bytes (err %v); want the %d put", len(got), err, len(want))
	}
	if info.Size != int64(len(want)) || info.ContentType != "application/json" {
		t.Errorf("GetFile Info = %+v", info)
	}
	// Overwrites an existing file.
	put(t, s, "jobs/j1/plan.json", []byte("v2"), blob.PutOptions{})
	if _, err := s.GetFile(context.Background(), "jobs/j1/plan.json", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "v2" {
		t.Errorf("GetFile over an existing file left %q; want v2", got)
	}
	onlyFiles(t, filepath.Dir(dst), "plan.json")
}

// onlyFiles fails unless dir holds exactly the named entries (no temporary
// files left behind).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q; want %q", dir, got, names)
	}
}

func testGetFileAtomic(t *testing.T, s blob.Store) {
	put(t, s, "obj", data(6, 64<<10), blob.PutOptions{})
	dir := t.TempDir()
	dst := filepath.Join(dir, "out")
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Missing key: the old file stays.
	if _, err := s.GetFile(context.Background(), "missing", dst); err == nil {
		t.Fatal("GetFile of a missing key succeeded")
	}
	// Canceled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetFile(ctx, "obj", dst); !errors.Is(err, context.Canceled) {
		t.Errorf("GetFile with a canceled context: %v; want context.Canceled", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Errorf("failed GetFile changed the destination to %d bytes", len(got))
	}
	// A destination that cannot be replaced (a non-empty folder): the
	// download happens, the rename fails, and the temporary file goes.
	blocker := filepath.Join(dir, "blocker")
	if err := os.MkdirAll(filepath.Join(blocker, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFile(context.Background(), "obj", blocker); err == nil {
		t.Error("GetFile onto a non-empty folder succeeded")
	}
	onlyFiles(t, dir, "blocker", "out")
}

func testReadURLRange(t *testing.T, s blob.Store) {
	want := data(7, 64<<10)
	put(t, s, "media/r.mp4", want, blob.PutOptions{ContentType: "video/mp4"})
	for _, expiry := range []time.Duration{time.Hour, 0, 30 * 24 * time.Hour} {
		loc, err := s.ReadURL(context.Background(), "media/r.mp4", expiry)
		if err != nil {
			t.Fatalf("ReadURL(expiry %v): %v", expiry, err)
		}
		got := readRange(t, loc, 1000, 2000)
		if !bytes.Equal(got, want[1000:2000]) {
			t.Fatalf("bytes 1000-1999 via %s differ from the object's", redact(loc))
		}
	}
}

// readRange reads [from, to) of an http(s) URL (with a Range request, as
// ffmpeg seeks) or an absolute file path.
func readRange(t *testing.T, loc string, from, to int64) []byte {
	t.Helper()
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		req, err := http.NewRequest(http.MethodGet, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", redact(loc), err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("GET %s with Range: %s (%q); want 206", redact(loc), resp.Status, b)
		}
		return b
	}
	if !filepath.IsAbs(loc) {
		t.Fatalf("ReadURL = %q: neither an http(s) URL nor an absolute path", loc)
	}
	f, err := os.Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, to-from)
	if _, err := f.ReadAt(b, from); err != nil {
		t.Fatal(err)
	}
	return b
}

func redact(loc string) string {
	if i := strings.IndexByte(loc, '?'); i >= 0 {
		return loc[:i] + "?…"
	}
	return loc
}

func testMetadata(t *testing.T, s blob.Store) {
	md := map[string]string{
		"Job-ID":  "j1",
		"title":   "Лекция 1: введение",
		"empty":   "",
		"spaces":  "  a  b ",
		"encoded": "=?utf-8?q?not_decoded?=",
		"ascii":   "plain value, with punctuation: ok?",
	}
	want := map[string]string{}
	for k, v := range md {
		want[strings.ToLower(k)] = v
	}
	info := put(t, s, "slides/s.png", []byte("png"), blob.PutOptions{ContentType: "image/png", Metadata: md})
	if info.ContentType != "image/png" || !mapsEqual(info.Metadata, want) {
		t.Errorf("Put Info = %+v; want image/png and %v", info, want)
	}
	st, err := s.Stat(context.Background(), "slides/s.png")
	if err != nil {
		t.Fatal(err)
	}
	if st.ContentType != "image/png" || !mapsEqual(st.Metadata, want) {
		t.Errorf("Stat = %q, %q; want image/png, %q", st.ContentType, st.Metadata, want)
	}
	if _, gi := get(t, s, "slides/s.png"); gi.ContentType != "image/png" || !mapsEqual(gi.Metadata, want) {
		t.Errorf("Get Info = %q, %q; want image/png, %q", gi.ContentType, gi.Metadata, want)
	}
	if l := listAll(t, s); !slices.Equal(l, []string{"slides/s.png"}) {
		t.Errorf("List = %q: metadata must not show up as objects", l)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testBadMetadata(t *testing.T, s blob.Store) {
	for _, md := range []map[string]string{
		{"has space": "x"},
		{"under_score": "x"},
		{"": "x"},
		{"ok": "new\nline"},
		{"a": "1", "A": "2"},
		{"big": strings.Repeat("x", 3000)},
	} {
		_, err := s.Put(context.Background(), "m", strings.NewReader("x"), 1, blob.PutOptions{Metadata: md})
		if !errors.Is(err, blob.ErrBadMetadata) || !errors.Is(err, proto.ErrInvalid) {
			t.Errorf("Put with metadata %q: %v; want ErrBadMetadata", md, err)
		}
	}
	mustNotExist(t, s, "m")
}

func testCancelMidUpload(t *testing.T, s blob.Store) {
	for _, size := range []int64{-1, 64 << 20} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := newStream(8, 64<<20)
			// Cancel after more than a part, so an S3 multipart upload
			// has begun and must be aborted.
			src.afterBytes, src.after = blob.MinPartSize+(1<<20), cancel
			_, err := s.Put(ctx, "canceled", struct{ io.Reader }{src}, size, blob.PutOptions{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put canceled mid-upload: %v; want an error wrapping context.Canceled", err)
			}
			if src.read >= 64<<20 {
				t.Errorf("Put read the whole stream after the cancel")
			}
			mustNotExist(t, s, "canceled")
			if l := listAll(t, s); len(l) != 0 {
				t.Errorf("List after a canceled upload = %q; want nothing", l)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "canceled", strings.NewReader("x"), 1, blob.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v; want context.Canceled", err)
	}
	mustNotExist(t, s, "canceled")
}

func testBadKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	// Objects a bad key could reach if it were cleaned instead of refused.
	for _, k := range []string{"b", "a/b", "abs", "ab"} {
		put(t, s, k, []byte(k), blob.PutOptions{})
	}
	before := listAll(t, s)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	for _, key := range BadKeys {
		check := func(method string, err error) {
			t.Helper()
			if !errors.Is(err, proto.ErrBadKey) {
				t.Errorf("%s(%q) = %v; want an error wrapping proto.ErrBadKey", method, key, err)
			}
		}
		_, err := s.Put(ctx, key, strings.NewReader("payload"), 7, blob.PutOptions{})
		check("Put", err)
		_, err = s.Put(ctx, key, strings.NewReader("payload"), -1, blob.PutOptions{})
		check("Put(size -1)", err)
		_, err = s.PutFile(ctx, key, src, blob.PutOptions{})
		check("PutFile", err)
		rc, _, err := s.Get(ctx, key)
		if rc != nil {
			rc.Close()
		}
		check("Get", err)
		_, err = s.GetFile(ctx, key, filepath.Join(outDir, "out"))
		check("GetFile", err)
		_, err = s.Stat(ctx, key)
		check("Stat", err)
		ok, err := s.Exists(ctx, key)
		check("Exists", err)
		if ok {
			t.Errorf("Exists(%q) = true", key)
		}
		check("Delete", s.Delete(ctx, key))
		u, err := s.ReadURL(ctx, key, time.Hour)
		check("ReadURL", err)
		if u != "" {
			t.Errorf("ReadURL(%q) = %q; want nothing", key, u)
		}
		if key != "" { // List("") lists everything: "" is a fine prefix
			_, err = s.List(ctx, key)
			check("List", err)
		}
	}
	if after := listAll(t, s); !slices.Equal(after, before) {
		t.Errorf("bad keys changed the store: List = %q; want %q", after, before)
	}
	for _, k := range before {
		if got, _ := get(t, s, k); string(got) != k {
			t.Errorf("object %s now holds %q", k, got)
		}
	}
	onlyFiles(t, outDir)
}
