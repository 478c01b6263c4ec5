package blob

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrBadMetadata is wrapped when PutOptions.Metadata breaks the rules below;
// nothing is written in that case.
var ErrBadMetadata = fmt.Errorf("%w: bad object metadata", proto.ErrInvalid)

// DefaultContentType is what Stat reports for an object stored without a
// content type (both stores, as S3 does).
const DefaultContentType = "application/octet-stream"

// Read URL expiry: S3 presigned URLs live at most 7 days; an expiry of 0 or
// less means DefaultReadURLExpiry.
const (
	DefaultReadURLExpiry = 12 * time.Hour
	MaxReadURLExpiry     = 7 * 24 * time.Hour
)

// MaxMetadataBytes bounds the total size of an object's metadata keys and
// values (S3 allows about 2 KB of user metadata).
const MaxMetadataBytes = 2000

// checkKey validates key for operation op ("putting", "stating", …); the
// error wraps proto.ErrBadKey.
func checkKey(op, key string) error {
	if err := proto.ValidKey(key); err != nil {
		return fmt.Errorf("%s object: %w", op, err)
	}
	return nil
}

// openPutFile checks key and opens the regular file at path for PutFile;
// it returns the file and its size.
func openPutFile(key, path string) (*os.File, int64, error) {
	if err := checkKey("putting", key); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("putting %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("putting %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("putting %s: %s is not a regular file", key, path)
	}
	return f, fi.Size(), nil
}

// checkPrefix validates a List prefix: "" lists everything; otherwise the
// prefix without a trailing "/" must be a valid key.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := proto.ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("listing prefix: %w", err)
	}
	return nil
}

// normalizeMetadata checks user metadata and returns it with lower-case keys
// (S3 folds metadata names to one case, so both stores report lower case).
// Keys are ASCII letters, digits and '-'; values are UTF-8 without control
// characters. An empty map becomes nil.
func normalizeMetadata(md map[string]string) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(md))
	total := 0
	for k, v := range md {
		lk := strings.ToLower(k)
		if lk == "" || strings.Trim(lk, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return nil, fmt.Errorf("%w: key %q: use only ASCII letters, digits and '-'", ErrBadMetadata, k)
		}
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("%w: key %q appears twice when folded to lower case", ErrBadMetadata, k)
		}
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%w: value of %q must be UTF-8 text without control characters", ErrBadMetadata, k)
		}
		total += len(lk) + len(v)
		out[lk] = v
	}
	if total > MaxMetadataBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d: store large data as an object", ErrBadMetadata, total, MaxMetadataBytes)
	}
	return out, nil
}

// readURLExpiry applies the default and the 7-day cap, rounding up to whole
// seconds (S3's unit).
func readURLExpiry(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return DefaultReadURLExpiry
	case d > MaxReadURLExpiry:
		return MaxReadURLExpiry
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

func contentTypeOr(ct string) string {
	if ct == "" {
		return DefaultContentType
	}
	return ct
}

func cloneMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	return maps.Clone(md)
}

// errSize reports a reader that ended before the announced size.
var errSize = errors.New("reader ended before the announced size")
