package blobtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
)

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
