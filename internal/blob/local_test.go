package blob_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/blob/blobtest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func newLocal(t *testing.T) *blob.Local {
	t.Helper()
	s, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newLocal(t) })
}

func TestLocalPathAndReadURL(t *testing.T) {
	s := newLocal(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "media/a.mp4", strings.NewReader("abc"), 3, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Path("media/a.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Dir(), "objects", "media", "a.mp4"); p != want {
		t.Errorf("Path = %q; want %q", p, want)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "abc" {
		t.Errorf("reading Path: %q, %v", b, err)
	}
	u, err := s.ReadURL(ctx, "media/a.mp4", time.Hour)
	if err != nil || u != p {
		t.Errorf("ReadURL = %q, %v; want %q", u, err, p)
	}
	// Path does not need the object to exist (a caller may stat it), but
	// refuses bad keys.
	if _, err := s.Path("media/none.mp4"); err != nil {
		t.Errorf("Path of a missing key: %v", err)
	}
	for _, k := range blobtest.BadKeys {
		if _, err := s.Path(k); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Path(%q) = %v; want ErrBadKey", k, err)
		}
	}
}

// TestLocalSymlinkEscape: a symlink inside the store that points outside it
// (put there by hand) must not let any method read or write outside.
func TestLocalSymlinkEscape(t *testing.T) {
	s := newLocal(t)
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(s.Dir(), "objects")
	if err := os.Symlink(outside, filepath.Join(objects, "media")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(objects, "file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "nowhere", "x"), filepath.Join(objects, "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"media/secret", "media/new", "file", "dangling/x", "dangling"} {
		if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, blob.PutOptions{}); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Put(%q) = %v; want ErrBadKey", key, err)
		}
		if _, _, err := s.Get(ctx, key); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Get(%q) = %v; want ErrBadKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Stat(%q) = %v; want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Delete(%q) = %v; want ErrBadKey", key, err)
		}
		if _, err := s.ReadURL(ctx, key, 0); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("ReadURL(%q) = %v; want ErrBadKey", key, err)
		}
		if _, err := s.Path(key); !errors.Is(err, proto.ErrBadKey) {
			t.Errorf("Path(%q) = %v; want ErrBadKey", key, err)
		}
	}
	if _, err := s.List(ctx, "media/"); !errors.Is(err, proto.ErrBadKey) {
		t.Errorf("List(media/) = %v; want ErrBadKey", err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("the folder outside the store now holds %d entries; want only secret", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Errorf("the file outside the store was changed to %q", b)
	}
	// List of everything skips the links.
	if l, err := s.List(ctx, ""); err != nil || len(l) != 0 {
		t.Errorf("List(\"\") = %v, %v; want nothing", l, err)
	}

	// A symlink that stays inside the store is fine.
	if _, err := s.Put(ctx, "real/x", strings.NewReader("x"), 1, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(objects, "alias")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "alias/x"); err != nil {
		t.Errorf("Stat through an inside symlink: %v", err)
	}
}

// TestLocalCrashedWriteLeavesNoObject simulates a crash mid-write: a
// temporary file left in tmp/ is no object, and NewLocal removes it once stale.
func TestLocalCrashedWriteLeavesNoObject(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stale := filepath.Join(s.Dir(), "tmp", "put-123")
	fresh := filepath.Join(s.Dir(), "tmp", "put-456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if l, err := s.List(ctx, ""); err != nil || len(l) != 0 {
		t.Errorf("List = %v, %v; a temporary file must not be an object", l, err)
	}
	if _, err := blob.NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewLocal kept a two-day-old temporary file")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("NewLocal removed a fresh temporary file (a write in progress?): %v", err)
	}
}

// TestLocalStaleSidecarIgnored: an object replaced behind the store's back
// (or a crash between the data and sidecar renames) does not inherit the old
// object's metadata.
func TestLocalStaleSidecarIgnored(t *testing.T) {
	s := newLocal(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", strings.NewReader("one"), 3, blob.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path("k")
	if err := os.WriteFile(p, []byte("other bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != 11 || st.ContentType != blob.DefaultContentType || st.Metadata != nil {
		t.Errorf("Stat = %+v; want size 11 and no stale metadata", st)
	}
}

// TestLocalKeyFileFolderClash: S3 can hold "a" and "a/b"; a directory cannot.
// The local store says so instead of failing obscurely.
func TestLocalKeyFileFolderClash(t *testing.T) {
	s := newLocal(t)
	ctx := context.Background()
	put := func(key string) error {
		_, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, blob.PutOptions{})
		return err
	}
	if err := put("a/b"); err != nil {
		t.Fatal(err)
	}
	if err := put("a"); err == nil || !strings.Contains(err.Error(), "cannot also hold a") {
		t.Errorf("Put(a) over folder a/: %v; want a clear clash error", err)
	}
	if err := put("x"); err != nil {
		t.Fatal(err)
	}
	if err := put("x/y"); err == nil || !strings.Contains(err.Error(), "is an object") {
		t.Errorf("Put(x/y) under object x: %v; want a clear clash error", err)
	}
}

// TestLocalDeletePrunesFolders: deleting the last object of a job leaves no
// empty folders behind, in objects/ or meta/.
func TestLocalDeletePrunesFolders(t *testing.T) {
	s := newLocal(t)
	ctx := context.Background()
	for _, k := range []string{"jobs/j1/units/00000-g1.ts", "jobs/j2/plan.json"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x"), 1, blob.PutOptions{Metadata: map[string]string{"a": "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "jobs/j1/units/00000-g1.ts"); err != nil {
		t.Fatal(err)
	}
	for _, tree := range []string{"objects", "meta"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), tree, "jobs", "j1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/jobs/j1 still exists after its last object was deleted", tree)
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), tree, "jobs", "j2")); err != nil {
			t.Errorf("%s/jobs/j2 was removed: %v", tree, err)
		}
	}
}

func TestNewLocalErrors(t *testing.T) {
	if _, err := blob.NewLocal(""); err == nil || !strings.Contains(err.Error(), "set a data directory") {
		t.Errorf("NewLocal(\"\") = %v; want a clear error", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewLocal(file); err == nil {
		t.Error("NewLocal on a regular file succeeded")
	}
}
