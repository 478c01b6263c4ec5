package blob

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mtsfarm/mtsfarm/proto"
)

// S3 is a Store in an S3 bucket through minio-go (MinIO or any S3 service).
//
// Uploads of unknown size (Put with size -1) stream in parts of PartSize, so
// memory stays at one part per upload whatever the object's size; a failed
// or canceled upload is aborted and leaves no object (minio-go aborts the
// multipart upload on a context that outlives the cancel).
type S3 struct {
	client   *minio.Client
	bucket   string
	endpoint string
	partSize uint64
	threads  uint
}

var _ Store = (*S3)(nil)

// NewS3 connects to the S3 service in cfg and checks the bucket, creating it
// when cfg.CreateBucket is set.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, secure, _ := cfg.endpoint()
	client, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to S3 at %s: %w", host, err)
	}
	s := &S3{client: client, bucket: cfg.Bucket, endpoint: host, partSize: cfg.partSize(), threads: cfg.StreamThreads}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("connecting to S3 at %s: checking bucket %s: %w", host, cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("connecting to S3 at %s: bucket %s does not exist: create it (mc mb) or enable bucket creation", host, cfg.Bucket)
		}
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if code := minio.ToErrorResponse(err).Code; err != nil && code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			return nil, fmt.Errorf("connecting to S3 at %s: creating bucket %s: %w", host, cfg.Bucket, err)
		}
	}
	return s, nil
}

// Client is the underlying minio-go client (for tests and administration).
func (s *S3) Client() *minio.Client { return s.client }

// Bucket is the bucket the store uses.
func (s *S3) Bucket() string { return s.bucket }

// Put implements Store. r is read sequentially from its current position.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error) {
	// ctxReader makes reads fail once ctx is done: minio-go fills a part
	// buffer from r without looking at ctx. It also hides r's other methods,
	// so minio-go never uses ReadAt from offset 0 on a partly read reader.
	if size >= 0 {
		r = io.LimitReader(r, size) // as the local store: the rest stays unread
	}
	return s.put(ctx, key, ctxReader{ctx, r}, size, opts)
}

func (s *S3) put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error) {
	if err := checkKey("putting", key); err != nil {
		return Info{}, err
	}
	md, err := normalizeMetadata(opts.Metadata)
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	ct := contentTypeOr(opts.ContentType)
	popts := minio.PutObjectOptions{
		ContentType:  ct,
		UserMetadata: encodeMetadata(md),
		PartSize:     s.partSize,
	}
	if size < 0 && s.threads > 1 {
		popts.ConcurrentStreamParts = true
		popts.NumThreads = s.threads
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, r, size, popts)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return Info{}, fmt.Errorf("putting %s: %w", key, s.classify(err))
	}
	if size >= 0 && up.Size != size {
		return Info{}, fmt.Errorf("putting %s: %w: stored %d of %d bytes", key, errSize, up.Size, size)
	}
	return Info{Key: key, Size: up.Size, ModTime: time.Now(), ContentType: ct, Metadata: cloneMetadata(md)}, nil
}

// PutFile implements Store. Large files upload their parts in parallel.
func (s *S3) PutFile(ctx context.Context, key, path string, opts PutOptions) (Info, error) {
	f, size, err := openPutFile(key, path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return s.put(ctx, key, ctxReaderAt{ctxReader{ctx, f}, f}, size, opts)
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey("getting", key); err != nil {
		return nil, Info{}, err
	}
	// One GET whose body and headers describe the same version of the
	// object (minio.Client.GetObject stats first and reads with If-Match, so
	// an overwrite in between fails the read).
	body, oi, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, fmt.Errorf("getting %s: %w", key, s.classify(err))
	}
	return body, infoOf(oi), nil
}

// GetFile implements Store.
func (s *S3) GetFile(ctx context.Context, key, path string) (Info, error) {
	return getFile(ctx, s, key, path)
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey("stating", key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("stating %s: %w", key, s.classify(err))
	}
	return infoOf(oi), nil
}

// Exists implements Store.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	return exists(ctx, s, key)
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey("deleting", key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s.classify(err), ErrNotFound) {
		return fmt.Errorf("deleting %s: %w", key, s.classify(err))
	}
	return nil
}

// List implements Store. It fills Key, Size and ModTime.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine on an early return
	var out []Info
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("listing %q: %w", prefix, s.classify(oi.Err))
		}
		if proto.ValidKey(oi.Key) != nil {
			continue // written by something else; no method could reach it
		}
		out = append(out, Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// ReadURL implements Store: a presigned GET URL valid for expiry (0 or less:
// DefaultReadURLExpiry; at most 7 days). It checks that the object exists,
// so a missing key fails here rather than in ffmpeg. The URL grants access:
// do not log it.
func (s *S3) ReadURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := checkKey("presigning", key); err != nil {
		return "", err
	}
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		return "", fmt.Errorf("presigning %s: %w", key, s.classify(err))
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, readURLExpiry(expiry), nil)
	if err != nil {
		return "", fmt.Errorf("presigning %s: %w", key, err)
	}
	return u.String(), nil
}

// classify maps S3 error codes to the package's errors.
func (s *S3) classify(err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	switch er.Code {
	case minio.NoSuchKey, "NotFound":
		return ErrNotFound
	case minio.NoSuchBucket:
		return fmt.Errorf("bucket %s does not exist at %s (was it deleted?): %w", s.bucket, s.endpoint, err)
	case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("S3 at %s refused the credentials: check the access and secret keys: %w", s.endpoint, err)
	}
	return err
}

// infoOf converts minio-go's ObjectInfo; metadata names come back in
// canonical header case and are folded to lower case.
func infoOf(oi minio.ObjectInfo) Info {
	info := Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified, ContentType: contentTypeOr(oi.ContentType)}
	for k, v := range oi.UserMetadata {
		if info.Metadata == nil {
			info.Metadata = make(map[string]string, len(oi.UserMetadata))
		}
		info.Metadata[strings.ToLower(k)] = v
	}
	return info
}

// encodeMetadata makes metadata values safe for HTTP headers: a value that is
// empty, not plain printable ASCII, has leading or trailing blanks (HTTP
// trims them) or starts with "=?" is sent as an RFC 2047 encoded word, which minio-go
// decodes on Stat and Get.
func encodeMetadata(md map[string]string) map[string]string {
	if md == nil {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if needsEncoding(v) {
			v = "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
		}
		out[k] = v
	}
	return out
}

func needsEncoding(v string) bool {
	if v == "" || strings.HasPrefix(v, "=?") || strings.TrimSpace(v) != v {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return true
		}
	}
	return false
}
