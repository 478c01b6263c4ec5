// Package blob is mtsfarm's object store: media chunks, slides, job files,
// rendered units and outputs. Two implementations share one interface and one
// conformance suite: S3 through minio-go (MinIO or any S3 service, the farm
// mode) and a local directory (the embedded default).
//
// Keys are checked with proto.ValidKey by both stores: no "..", absolute
// paths, backslashes or NUL ever reach S3 or the file system.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("object not found")

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ModTime     time.Time
	ContentType string
	// Metadata is small user metadata (S3 limits it to about 2 KB).
	Metadata map[string]string
}

// PutOptions are optional attributes of a stored object.
type PutOptions struct {
	// ContentType defaults to DefaultContentType.
	ContentType string
	// Metadata names are ASCII letters, digits and '-' and come back in
	// lower case; values are UTF-8 text without control characters; at
	// most MaxMetadataBytes in all. Other metadata is refused with
	// ErrBadMetadata.
	Metadata map[string]string
}

// Store is an object store. Every method returns an error wrapping
// proto.ErrBadKey for an invalid key and writes nothing in that case.
type Store interface {
	// Put stores r under key. size is the length, or -1 when unknown: the
	// upload then streams with bounded memory (explicit part size). The
	// object appears atomically: readers see the old object or the whole
	// new one, never a partial one. With size >= 0 exactly size bytes are
	// read (the rest of r stays unread); a reader that ends sooner is an
	// error and stores nothing. A
	// canceled ctx stops the upload and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error)
	// PutFile stores the local file at path under key.
	PutFile(ctx context.Context, key, path string, opts PutOptions) (Info, error)
	// Get opens the object for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// GetFile writes the object to the local file at path (atomically:
	// through a temporary file in path's folder, renamed when complete;
	// missing folders are created).
	GetFile(ctx context.Context, key, path string) (Info, error)
	// Stat returns the object's Info or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Exists reports whether the key exists.
	Exists(ctx context.Context, key string) (bool, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every object whose key starts with prefix, sorted by key.
	// It fills Key, Size and ModTime (Stat has the rest). The prefix "" lists
	// everything; any other prefix, without a trailing "/", must be a valid
	// key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// ReadURL returns a location ffmpeg can open with seeking: a presigned
	// HTTP URL valid for expiry (S3) or an absolute file path (local).
	ReadURL(ctx context.Context, key string, expiry time.Duration) (string, error)
}
