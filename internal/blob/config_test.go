package blob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/blob"
)

func validS3() blob.S3Config {
	return blob.S3Config{Endpoint: "127.0.0.1:9000", AccessKey: "ak", SecretKey: "sk-secret", Bucket: "mtsfarm"}
}

func TestConfigValidate(t *testing.T) {
	with := func(f func(*blob.S3Config)) blob.Config {
		c := validS3()
		f(&c)
		return blob.Config{S3: c}
	}
	cases := []struct {
		name string
		cfg  blob.Config
		want string // "" means valid
	}{
		{"dir", blob.Config{Dir: "/data"}, ""},
		{"s3", blob.Config{S3: validS3()}, ""},
		{"none", blob.Config{}, "neither a local directory nor an S3 endpoint"},
		{"both", blob.Config{Dir: "/data", S3: validS3()}, "choose one"},
		{"http url", with(func(c *blob.S3Config) { c.Endpoint = "http://minio:9000" }), ""},
		{"https url", with(func(c *blob.S3Config) { c.Endpoint = "https://s3.example.com/" }), ""},
		{"http but secure", with(func(c *blob.S3Config) { c.Endpoint = "http://minio:9000"; c.Secure = true }), "use https:// or unset Secure"},
		{"path", with(func(c *blob.S3Config) { c.Endpoint = "minio:9000/bucket" }), "want host:port"},
		{"url path", with(func(c *blob.S3Config) { c.Endpoint = "http://minio:9000/bucket" }), "no path"},
		{"scheme", with(func(c *blob.S3Config) { c.Endpoint = "ftp://minio" }), "scheme must be http or https"},
		{"no keys", with(func(c *blob.S3Config) { c.AccessKey, c.SecretKey = "", "" }), "must both be set"},
		{"no secret", with(func(c *blob.S3Config) { c.SecretKey = "" }), "must both be set"},
		{"no bucket", with(func(c *blob.S3Config) { c.Bucket = "" }), "no bucket"},
		{"bad bucket", with(func(c *blob.S3Config) { c.Bucket = "Bad_Bucket" }), "S3 bucket \"Bad_Bucket\""},
		{"small part", with(func(c *blob.S3Config) { c.PartSize = 1 << 20 }), "between 5242880 (5 MiB)"},
		{"huge part", with(func(c *blob.S3Config) { c.PartSize = 6 << 30 }), "between"},
		{"min part", with(func(c *blob.S3Config) { c.PartSize = blob.MinPartSize }), ""},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v; want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Validate() = %v; want an error containing %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk-secret") {
			t.Errorf("%s: the error shows the secret key: %v", c.name, err)
		}
	}
}

func TestS3ConfigStringRedactsSecret(t *testing.T) {
	c := validS3()
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", blob.Config{S3: c})} {
		if strings.Contains(s, "sk-secret") || !strings.Contains(s, "REDACTED") {
			t.Errorf("printed config %q shows the secret or lacks REDACTED", s)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := blob.Open(ctx, blob.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blob.Local); !ok {
		t.Errorf("Open(Dir) = %T; want *blob.Local", s)
	}
	s, err = blob.Open(ctx, blob.Config{S3: minioSrv.Get(t).NewBucket(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blob.S3); !ok {
		t.Errorf("Open(S3) = %T; want *blob.S3", s)
	}
	if _, err := blob.Open(ctx, blob.Config{}); err == nil {
		t.Error("Open of an empty Config succeeded")
	}
}
