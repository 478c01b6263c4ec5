package fetcher

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // slide formats Go decodes itself
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"

	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

// maxSlidePixels bounds a slide's size before it is decoded (a decompression
// bomb would otherwise take the node's memory).
const maxSlidePixels = 64 << 20

// slide fetches one slide image, checks it decodes, and stores it with a
// sidecar (format, size, dimensions). A slide that does not decode after
// Attempts downloads is reported invalid: the planner keeps the previous
// slide on screen, as the web player would with a broken image.
func (w *Worker) slide(ctx context.Context, t heartbeater, task proto.FetchTask, log zerolog.Logger) (proto.FetchResult, error) {
	if info, ok, err := w.cached(ctx, t, task.Key, false, log); err != nil {
		return proto.FetchResult{}, err
	} else if ok {
		return proto.FetchResult{Status: proto.FetchStored, Bytes: info.Size, Cached: true}, nil
	}
	u, err := w.policy.Check(task.URL)
	if err != nil {
		return failedResult(fmt.Sprintf("refusing to fetch slide image %s: %v", redact(task.URL), err)), nil
	}
	dir, cleanup, err := w.taskDir(task)
	if err != nil {
		return proto.FetchResult{}, err
	}
	defer cleanup()
	rep := newReporter(t, task, w.cfg.WorkerID, w.cfg.ProgressEvery, eventPublisher(ctx, w))
	p := filepath.Join(dir, "slide"+filepath.Ext(u.Path))
	var lastInvalid error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		rep.reset()
		st, err := w.download(ctx, t, u, p, rep)
		if err != nil {
			if res, ok := failedFetch(task, err); ok {
				return res, nil
			}
			return proto.FetchResult{}, err
		}
		info, err := w.checkImage(ctx, p)
		if err == nil && st.Total >= 0 && st.Size != st.Total {
			err = fmt.Errorf("got %d of %d bytes", st.Size, st.Total)
		}
		if err != nil {
			lastInvalid = err
			log.Warn().Err(err).Int("try", attempt).Msg("downloaded slide is not a valid image; fetching it again")
			continue
		}
		info.Size = st.Size
		if err := w.storeMedia(ctx, t, task.Key, p, info); err != nil {
			return proto.FetchResult{}, err
		}
		return proto.FetchResult{Status: proto.FetchStored, Bytes: st.Size, Attempts: attempt}, nil
	}
	return proto.FetchResult{Status: proto.FetchInvalid, Attempts: w.cfg.Attempts,
		Error: fmt.Sprintf("slide image %s does not decode as an image after %d downloads (%v); the previous slide stays on screen instead",
			redact(task.URL), w.cfg.Attempts, lastInvalid)}, nil
}

// checkImage decodes the image at p completely. JPEG, PNG and GIF are
// decoded by Go; anything else (WebP, BMP, …) must probe as a single video
// frame and decode without an error in ffmpeg.
func (w *Worker) checkImage(ctx context.Context, p string) (proto.MediaInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return proto.MediaInfo{}, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	switch {
	case err == nil:
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSlidePixels {
			return proto.MediaInfo{}, fmt.Errorf("%s image of %dx%d pixels is empty or too large", format, cfg.Width, cfg.Height)
		}
		if _, err := f.Seek(0, 0); err != nil {
			return proto.MediaInfo{}, err
		}
		if _, _, err := image.Decode(f); err != nil {
			return proto.MediaInfo{}, fmt.Errorf("decoding the %s image: %w", format, err)
		}
		return proto.MediaInfo{Format: format, HasVideo: true, Width: cfg.Width, Height: cfg.Height}, nil
	case errors.Is(err, image.ErrFormat):
		info, perr := w.deps.FFmpeg.Probe(ctx, p)
		if perr != nil {
			return info, fmt.Errorf("not an image: %w", perr)
		}
		if !info.HasVideo || info.Width <= 0 || info.Height <= 0 {
			return info, errors.New("not an image: no picture in it")
		}
		if err := w.deps.FFmpeg.DecodeCheck(ctx, p, nil); err != nil {
			return info, err
		}
		return proto.MediaInfo{Format: info.Format, HasVideo: true, Width: info.Width, Height: info.Height}, nil
	default:
		return proto.MediaInfo{}, fmt.Errorf("reading the image header: %w", err)
	}
}
