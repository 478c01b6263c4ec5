package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
)

// Local is a Store in a local directory, the embedded default. The directory
// holds three trees:
//
//	objects/<key>  the object's bytes, a plain file (Path and ReadURL point here)
//	meta/<key>     the sidecar: content type and metadata (JSON), never listed
//	tmp/           uploads in progress, renamed into objects/ when complete
//
// tmp/ is on the same file system as objects/, so the rename that publishes
// an object is atomic: readers see the old object or the whole new one, and
// a write that crashes leaves only a temporary file (removed by NewLocal once
// it is a day old), never an object.
type Local struct {
	root    string // absolute, symlinks resolved
	objects string
	meta    string
	tmp     string
}

var _ Store = (*Local)(nil)

// staleTemp is the age after which NewLocal removes a temporary file left by
// a crashed write.
const staleTemp = 24 * time.Hour

// NewLocal opens (creating it if needed) a local store in dir.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("opening local store: no directory given: set a data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening local store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("opening local store: %w", err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("opening local store: %w", err)
	}
	l := &Local{
		root:    root,
		objects: filepath.Join(root, "objects"),
		meta:    filepath.Join(root, "meta"),
		tmp:     filepath.Join(root, "tmp"),
	}
	for _, d := range []string{l.objects, l.meta, l.tmp} {
		fi, err := os.Lstat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			err = os.Mkdir(d, 0o755)
		case err == nil && !fi.IsDir():
			err = fmt.Errorf("%s is not a directory: is %s really an mtsfarm store?", d, root)
		}
		if err != nil {
			return nil, fmt.Errorf("opening local store: %w", err)
		}
	}
	l.removeStaleTemp(time.Now().Add(-staleTemp))
	return l, nil
}

// Dir is the store's root directory (absolute, symlinks resolved).
func (l *Local) Dir() string { return l.root }

func (l *Local) removeStaleTemp(before time.Time) {
	entries, _ := os.ReadDir(l.tmp)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.RemoveAll(filepath.Join(l.tmp, e.Name()))
		}
	}
}

// Path returns the absolute path of key's file (which may not exist yet). The
// key is validated, and refused when it resolves through a symlink that
// leaves the store.
func (l *Local) Path(key string) (string, error) {
	if err := checkKey("locating", key); err != nil {
		return "", err
	}
	p, err := l.resolve(l.objects, key)
	if err != nil {
		return "", fmt.Errorf("locating object: %w", err)
	}
	return p, nil
}

// resolve maps a valid key to its path in tree and checks that the deepest
// existing part of that path, symlinks followed, is still inside tree.
func (l *Local) resolve(tree, key string) (string, error) {
	p := filepath.Join(tree, filepath.FromSlash(key))
	q := p
	for q != tree {
		_, err := os.Lstat(q)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", err
		}
		q = filepath.Dir(q)
	}
	real, err := filepath.EvalSymlinks(q)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %q passes through a broken symlink", proto.ErrBadKey, key)
	}
	if err != nil {
		return "", err
	}
	if real != tree && !strings.HasPrefix(real, tree+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q resolves through a symlink outside the store", proto.ErrBadKey, key)
	}
	return p, nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (info Info, err error) {
	if err := checkKey("putting", key); err != nil {
		return Info{}, err
	}
	md, err := normalizeMetadata(opts.Metadata)
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	dst, err := l.resolve(l.objects, key)
	if err != nil {
		return Info{}, fmt.Errorf("putting object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		return Info{}, fmt.Errorf("putting %s: the local store holds objects under %s/, so it cannot also hold %s", key, key, key)
	}

	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := copySized(f, ctxReader{ctx, r}, size)
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	if err = f.Chmod(0o644); err == nil {
		if err = f.Sync(); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	fi, err := os.Stat(f.Name())
	if err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	if err = ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	if err = renameInto(f.Name(), dst); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			err = fmt.Errorf("a parent of %s is an object, so the local store cannot hold %s: %w", key, key, err)
		}
		return Info{}, fmt.Errorf("putting %s: %w", key, err)
	}
	syncDir(filepath.Dir(dst))

	ct := contentTypeOr(opts.ContentType)
	// The object is published; a sidecar that fails to land only loses the
	// metadata, which Stat then reports as absent (see readSidecar).
	l.writeSidecar(key, sidecar{Size: n, ModTimeNS: fi.ModTime().UnixNano(), ContentType: ct, Metadata: md})
	return Info{Key: key, Size: n, ModTime: fi.ModTime(), ContentType: ct, Metadata: cloneMetadata(md)}, nil
}

// renameInto renames src to dst, creating dst's parents; it retries when a
// concurrent Delete pruned a parent between the mkdir and the rename.
func renameInto(src, dst string) error {
	var err error
	for range 3 {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err = os.Rename(src, dst); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// PutFile implements Store.
func (l *Local) PutFile(ctx context.Context, key, path string, opts PutOptions) (Info, error) {
	f, size, err := openPutFile(key, path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return l.Put(ctx, key, f, size, opts)
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey("getting", key); err != nil {
		return nil, Info{}, err
	}
	p, err := l.resolve(l.objects, key)
	if err != nil {
		return nil, Info{}, fmt.Errorf("getting object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("getting %s: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, fmt.Errorf("getting %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("getting %s: %w", key, err)
	}
	return f, l.info(key, fi), nil
}

// GetFile implements Store.
func (l *Local) GetFile(ctx context.Context, key, path string) (Info, error) {
	return getFile(ctx, l, key, path)
}

// getFile is GetFile for any store: Get, then an atomic write to path.
func getFile(ctx context.Context, s Store, key, path string) (Info, error) {
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return Info{}, err
	}
	defer rc.Close()
	n, err := writeFileAtomic(ctx, path, rc)
	if err == nil && n != info.Size {
		err = fmt.Errorf("object changed while reading: %d bytes, expected %d", n, info.Size)
	}
	if err != nil {
		return Info{}, fmt.Errorf("downloading %s to %s: %w", key, path, err)
	}
	return info, nil
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey("stating", key); err != nil {
		return Info{}, err
	}
	p, err := l.resolve(l.objects, key)
	if err != nil {
		return Info{}, fmt.Errorf("stating object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stating %s: %w", key, err)
	}
	fi, err := os.Stat(p)
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("stating %s: %w", key, notFound(err))
	}
	return l.info(key, fi), nil
}

// Exists implements Store.
func (l *Local) Exists(ctx context.Context, key string) (bool, error) {
	return exists(ctx, l, key)
}

func exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey("deleting", key); err != nil {
		return err
	}
	p, err := l.resolve(l.objects, key)
	if err != nil {
		return fmt.Errorf("deleting object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.IsDir() {
		return nil // missing (or only a folder of other objects): nothing to delete
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	prune(l.objects, p)
	if mp, err := l.resolve(l.meta, key); err == nil {
		if fi, err := os.Lstat(mp); err == nil && !fi.IsDir() {
			os.Remove(mp)
			prune(l.meta, mp)
		}
	}
	return nil
}

// prune removes the now empty parent folders of p up to tree, so deleted
// jobs leave no folders behind; a folder that is not empty stops it.
func prune(tree, p string) {
	for d := filepath.Dir(p); d != tree && strings.HasPrefix(d, tree); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// List implements Store. It fills Key, Size and ModTime.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	start := l.objects
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		p, err := l.resolve(l.objects, prefix[:i])
		if err != nil {
			return nil, fmt.Errorf("listing prefix: %w", err)
		}
		start = p
	}
	var out []Info
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // deleted meanwhile, or the prefix names no folder
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == l.objects {
			return nil
		}
		rel, err := filepath.Rel(l.objects, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if dk := key + "/"; !strings.HasPrefix(dk, prefix) && !strings.HasPrefix(prefix, dk) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || proto.ValidKey(key) != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// ReadURL implements Store: the absolute path of the object's file (expiry
// does not apply).
func (l *Local) ReadURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := checkKey("locating", key); err != nil {
		return "", err
	}
	p, err := l.resolve(l.objects, key)
	if err != nil {
		return "", fmt.Errorf("locating object: %w", err)
	}
	fi, err := os.Stat(p)
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("locating %s: %w", key, notFound(err))
	}
	return p, nil
}

// notFound turns the file system's "no such file" (or "a parent is a file")
// into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return err
}
