package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
)

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
