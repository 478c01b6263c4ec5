package miniotest

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestStartServesS3(t *testing.T) {
	srv := Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "probe", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("creating a bucket on the started server: %v", err)
	}
	srv.Stop()
	if conn, err := net.Dial("tcp", srv.Endpoint); err == nil {
		conn.Close()
		t.Error("the server still accepts connections after Stop")
	}
	srv.Stop() // idempotent
}

func TestNewBucketNames(t *testing.T) {
	srv := &Server{}
	a, b := srv.NewBucket(t), srv.NewBucket(t)
	if a.Bucket == b.Bucket {
		t.Errorf("NewBucket returned %q twice", a.Bucket)
	}
	if a.Bucket != "testnewbucketnames-1" {
		t.Errorf("NewBucket = %q; want testnewbucketnames-1", a.Bucket)
	}
	if !a.CreateBucket || a.PartSize != TestPartSize {
		t.Errorf("S3Config = %v; want CreateBucket and the test part size", a)
	}
}

func TestMissingMinio(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := start(t.TempDir(), false); !errors.Is(err, ErrNoMinio) {
		t.Errorf("start without minio on PATH: %v; want ErrNoMinio", err)
	}
}

// TestPortTaken: a port another process holds is reported as errPortTaken,
// which start retries on a new port.
func TestPortTaken(t *testing.T) {
	bin, err := exec.LookPath("minio")
	if err != nil {
		t.Fatal(ErrNoMinio)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = launch(bin, t.TempDir(), l.Addr().(*net.TCPAddr).Port)
	if !errors.Is(err, errPortTaken) {
		t.Errorf("launch on a taken port: %v; want errPortTaken", err)
	}
}
