package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

type ffmpegProgress = ffmpeg.Progress

// The probe sidecar (proto.ProbeKey) is written after its object, so a
// sidecar means the object is complete and validated: such an object is never
// downloaded again, by this job or any later one.

// cached returns the sidecar of key when the object is stored and valid. For
// media, an object whose sidecar is missing (the process died between the
// two writes) is probed where it is stored and gets its sidecar then.
func (w *Worker) cached(ctx context.Context, t heartbeater, key string, media bool, log zerolog.Logger) (proto.MediaInfo, bool, error) {
	info, found, err := w.readSidecar(ctx, key)
	if err != nil {
		return info, false, err
	}
	if found && (!media || info.Validate() == nil) {
		oi, err := w.deps.Store.Stat(ctx, key)
		switch {
		case err == nil && (info.Size <= 0 || oi.Size == info.Size):
			return info, true, nil
		case err == nil:
			log.Warn().Int64("stored_size", oi.Size).Int64("sidecar_size", info.Size).Msg("stored object does not match its probe sidecar; fetching it again")
			return info, false, nil
		case errors.Is(err, blob.ErrNotFound):
			log.Warn().Msg("probe sidecar without its object; fetching it again")
			return info, false, nil
		default:
			return info, false, fmt.Errorf("checking the store for %s: %w", key, err)
		}
	}
	if !media {
		return info, false, nil
	}
	oi, err := w.deps.Store.Stat(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("checking the store for %s: %w", key, err)
	}
	loc, err := w.deps.Store.ReadURL(ctx, key, 15*time.Minute)
	if err != nil {
		return info, false, fmt.Errorf("locating %s in the store: %w", key, err)
	}
	info, err = w.probe(ctx, t, loc)
	if err != nil {
		log.Warn().Err(err).Msg("stored object without a probe sidecar is invalid; fetching it again")
		return info, false, nil
	}
	info.Size = oi.Size
	if err := w.putSidecar(ctx, key, info); err != nil {
		return info, false, err
	}
	return info, true, nil
}

func (w *Worker) readSidecar(ctx context.Context, key string) (proto.MediaInfo, bool, error) {
	var info proto.MediaInfo
	rc, _, err := w.deps.Store.Get(ctx, proto.ProbeKey(key))
	if errors.Is(err, blob.ErrNotFound) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("reading the probe sidecar of %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return info, false, fmt.Errorf("reading the probe sidecar of %s: %w", key, err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, false, nil // unreadable: fetch again, which rewrites it
	}
	return info, true, nil
}

// storeMedia uploads the file at p under key, then its sidecar. The file is
// streamed (the store holds at most one part in memory) through a reader
// that heartbeats as bytes go out, so a long upload keeps its task.
func (w *Worker) storeMedia(ctx context.Context, t heartbeater, key, p string, info proto.MediaInfo) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	if _, err := w.deps.Store.Put(ctx, key, &beatReader{r: f, beat: t}, fi.Size(),
		blob.PutOptions{ContentType: contentType(key)}); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return w.putSidecar(ctx, key, info)
}

// beatReader heartbeats on every read.
type beatReader struct {
	r    io.Reader
	beat heartbeater
}

func (b *beatReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.beat.Progress()
	}
	return n, err
}

func (w *Worker) putSidecar(ctx context.Context, key string, info proto.MediaInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding the probe sidecar of %s: %w", key, err)
	}
	if _, err := w.deps.Store.Put(ctx, proto.ProbeKey(key), bytes.NewReader(data), int64(len(data)),
		blob.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("storing the probe sidecar of %s: %w", key, err)
	}
	return nil
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".mp4":
		return "video/mp4"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	}
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
