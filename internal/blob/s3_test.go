package blob_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/blob/blobtest"
	"github.com/mtsfarm/mtsfarm/internal/blob/miniotest"
)

// minioSrv is one real minio process shared by this package's tests.
var minioSrv miniotest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	minioSrv.Stop()
	os.Exit(code)
}

func newS3(t testing.TB) (*blob.S3, *miniotest.Server) {
	t.Helper()
	srv := minioSrv.Get(t)
	s, err := blob.NewS3(context.Background(), srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestS3Conformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, _ := newS3(t)
		return s
	})
}

// TestS3CanceledUploadIsAborted: a canceled streamed upload leaves no
// incomplete multipart upload behind (its parts would hold disk space).
func TestS3CanceledUploadIsAborted(t *testing.T) {
	s, srv := newS3(t)
	ctx, cancel := context.WithCancel(context.Background())
	src := &cancelAfter{r: blobtest.NewStream(1, 64<<20), after: 2*blob.MinPartSize + 1, cancel: cancel}
	if _, err := s.Put(ctx, "media/big.mp4", src, -1, blob.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v; want context.Canceled", err)
	}
	var uploads []string
	for u := range srv.Client(t).ListIncompleteUploads(context.Background(), s.Bucket(), "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		uploads = append(uploads, u.Key+" "+u.UploadID)
	}
	if len(uploads) != 0 {
		t.Errorf("incomplete uploads after a canceled Put: %q", uploads)
	}
}

type cancelAfter struct {
	r      interface{ Read([]byte) (int, error) }
	n      int64
	after  int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

// TestS3ReadURLExpiry: the presigned URL carries the requested expiry, the
// default for 0, and the 7-day cap.
func TestS3ReadURLExpiry(t *testing.T) {
	s, _ := newS3(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", strings.NewReader("x"), 1, blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{time.Hour, "3600"},
		{1500 * time.Millisecond, "2"},
		{0, "43200"},
		{-time.Second, "43200"},
		{30 * 24 * time.Hour, "604800"},
	} {
		u, err := s.ReadURL(ctx, "k", c.in)
		if err != nil {
			t.Fatalf("ReadURL(%v): %v", c.in, err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := pu.Query().Get("X-Amz-Expires"); got != c.want {
			t.Errorf("ReadURL(%v): X-Amz-Expires=%s; want %s", c.in, got, c.want)
		}
	}
}

func TestNewS3Errors(t *testing.T) {
	srv := minioSrv.Get(t)
	ctx := context.Background()

	cfg := srv.NewBucket(t)
	cfg.CreateBucket = false
	if _, err := blob.NewS3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not exist: create it") {
		t.Errorf("NewS3 without the bucket: %v; want a clear error", err)
	}

	cfg = srv.NewBucket(t)
	cfg.SecretKey = "wrong-secret-key"
	_, err := blob.NewS3(ctx, cfg)
	if err == nil {
		t.Fatal("NewS3 with a wrong secret key succeeded")
	}
	if strings.Contains(err.Error(), "wrong-secret-key") {
		t.Errorf("the error shows the secret key: %v", err)
	}

	// A store whose bucket disappears says so.
	s, err := blob.NewS3(ctx, srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).RemoveBucket(ctx, s.Bucket()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("List in a removed bucket: %v; want a bucket error", err)
	}

	// CreateBucket on an existing bucket is fine (two processes starting).
	cfg = srv.NewBucket(t)
	for range 2 {
		if _, err := blob.NewS3(ctx, cfg); err != nil {
			t.Fatalf("NewS3 with CreateBucket, twice: %v", err)
		}
	}
}

// TestS3MetadataStoredAsS3Metadata: metadata is real S3 user metadata (seen
// by any S3 client), not a side object.
func TestS3MetadataStoredAsS3Metadata(t *testing.T) {
	s, srv := newS3(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", strings.NewReader("x"), 1, blob.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{"Job-Id": "j1"}}); err != nil {
		t.Fatal(err)
	}
	oi, err := srv.Client(t).StatObject(ctx, s.Bucket(), "k", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if oi.ContentType != "video/mp4" || oi.UserMetadata["Job-Id"] != "j1" {
		t.Errorf("raw S3 object: content type %q, metadata %v", oi.ContentType, oi.UserMetadata)
	}
	n := 0
	for range srv.Client(t).ListObjects(ctx, s.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
		n++
	}
	if n != 1 {
		t.Errorf("bucket holds %d objects; want 1", n)
	}
}

// TestS3PutStreamMemoryBounded: a streamed upload of unknown size allocates
// far less than the stream (one part buffer plus a little per part), so it
// never holds the object in memory. Without an explicit part size minio-go
// would allocate a ~537 MiB buffer here.
func TestS3PutStreamMemoryBounded(t *testing.T) {
	s, _ := newS3(t) // part size 5 MiB
	const size = 40 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := s.Put(context.Background(), "media/stream.ts", struct{ io.Reader }{blobtest.NewStream(9, size)}, -1, blob.PutOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %.1f MiB to upload %d MiB", float64(allocated)/(1<<20), size>>20)
	if allocated > size/2 {
		t.Errorf("uploading a %d MiB stream allocated %.1f MiB; want well under the stream's size", size>>20, float64(allocated)/(1<<20))
	}
}
