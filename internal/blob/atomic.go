package blob

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ctxReader fails reads once ctx is done, so a long copy or upload stops at
// the next read after a cancel.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxReaderAt is a ctxReader that keeps io.ReaderAt, so minio-go can upload
// a file's parts in parallel from sections. Only for files PutFile opened:
// minio-go reads a ReaderAt from offset 0, whatever its read position.
type ctxReaderAt struct {
	ctxReader
	ra io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.ra.ReadAt(p, off)
}

// copySized copies r to w: exactly size bytes, or everything when size < 0.
// A reader that ends early is an error wrapping errSize.
func copySized(w io.Writer, r io.Reader, size int64) (int64, error) {
	if size < 0 {
		return io.Copy(w, r)
	}
	n, err := io.CopyN(w, r, size)
	if err == io.EOF {
		return n, fmt.Errorf("%w: got %d of %d bytes", errSize, n, size)
	}
	return n, err
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory that is synced and renamed over path only when the copy is
// complete; on any error the temporary file is removed and path is left as it
// was. Missing parent directories are created.
func writeFileAtomic(ctx context.Context, path string, r io.Reader) (n int64, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if n, err = io.Copy(f, ctxReader{ctx, r}); err != nil {
		return n, err
	}
	if err = f.Chmod(0o644); err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, err
	}
	if err = f.Close(); err != nil {
		return n, err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return n, err
	}
	syncDir(dir)
	return n, nil
}

// syncDir makes a rename in dir durable; errors are ignored because some file
// systems cannot sync directories and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
