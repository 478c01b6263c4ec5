package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/mtsfarm/mtsfarm/internal/ffmpeg"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/rs/zerolog"
)

// Media sources recorded in MediaInfo.Source.
const (
	sourceDirect = "direct"
	sourceHLS    = "hls"
)

// media fetches one media chunk: cached → done; else up to Attempts direct
// downloads, each validated with ffprobe; the playlist rule (playlist.go)
// may swap in the HLS variant; the result is stored with its probe sidecar.
func (w *Worker) media(ctx context.Context, t heartbeater, task proto.FetchTask, log zerolog.Logger) (proto.FetchResult, error) {
	if info, ok, err := w.cached(ctx, t, task.Key, true, log); err != nil {
		return proto.FetchResult{}, err
	} else if ok {
		return proto.FetchResult{Status: proto.FetchStored, Media: &info, Bytes: info.Size, Cached: true, Attempts: 0}, nil
	}
	u, err := w.policy.Check(task.URL)
	if err != nil {
		return failedResult(fmt.Sprintf("refusing to fetch media chunk %s: %v", sessionName(task), err)), nil
	}
	dir, cleanup, err := w.taskDir(task)
	if err != nil {
		return proto.FetchResult{}, err
	}
	defer cleanup()
	rep := newReporter(t, task, w.cfg.WorkerID, w.cfg.ProgressEvery, eventPublisher(ctx, w))
	path := filepath.Join(dir, "direct"+filepath.Ext(u.Path))
	var lastInvalid error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		rep.reset()
		t0 := time.Now()
		st, err := w.download(ctx, t, u, path, rep)
		t1 := time.Now()
		if err != nil {
			if res, ok := failedFetch(task, err); ok {
				return res, nil
			}
			return proto.FetchResult{}, err
		}
		info, err := w.validate(ctx, t, path, st)
		t2 := time.Now()
		if err != nil {
			lastInvalid = err
			log.Warn().Err(err).Int("try", attempt).Int64("bytes", st.Size).Msg("downloaded media is invalid; fetching it again")
			w.event(ctx, task, proto.EventWarning, fmt.Sprintf("media chunk %s arrived corrupt (try %d of %d): %v",
				sessionName(task), attempt, w.cfg.Attempts, err))
			continue
		}
		info.Source = sourceDirect
		if !info.HasVideo {
			if hinfo, hpath, ok := w.tryHLS(ctx, t, task, dir, &info, rep, log); ok {
				info, path = hinfo, hpath
			} else if ctx.Err() != nil {
				return proto.FetchResult{}, ctx.Err()
			}
		}
		t3 := time.Now()
		if err := w.storeMedia(ctx, t, task.Key, path, info); err != nil {
			return proto.FetchResult{}, err
		}
		log.Debug().Dur("download", t1.Sub(t0)).Dur("probe", t2.Sub(t1)).Dur("hls", t3.Sub(t2)).Dur("store", time.Since(t3)).
			Int("requests", st.Requests).Int("resumes", st.Resumes).Msg("media chunk timings")
		return proto.FetchResult{Status: proto.FetchStored, Media: &info, Bytes: info.Size, Attempts: attempt}, nil
	}
	// Every direct download was undecodable: the HLS variant is the last
	// chance before the source is planned as absent.
	if hinfo, hpath, ok := w.tryHLS(ctx, t, task, dir, nil, rep, log); ok {
		if err := w.storeMedia(ctx, t, task.Key, hpath, hinfo); err != nil {
			return proto.FetchResult{}, err
		}
		return proto.FetchResult{Status: proto.FetchStored, Media: &hinfo, Bytes: hinfo.Size, Attempts: w.cfg.Attempts}, nil
	}
	if ctx.Err() != nil {
		return proto.FetchResult{}, ctx.Err()
	}
	return proto.FetchResult{Status: proto.FetchInvalid, Attempts: w.cfg.Attempts,
		Error: fmt.Sprintf("media chunk %s is still undecodable after %d downloads (%v); the video is made without it",
			sessionName(task), w.cfg.Attempts, lastInvalid)}, nil
}

func sessionName(task proto.FetchTask) string {
	name := redact(task.URL)
	if task.Session != "" {
		name = fmt.Sprintf("%s (session %s)", name, task.Session)
	}
	return name
}

// download takes a slot on the URL's host and downloads it to path.
func (w *Worker) download(ctx context.Context, t heartbeater, u *url.URL, path string, rep *reporter) (dlStats, error) {
	release, err := w.hosts.acquire(ctx, u.Host, t)
	if err != nil {
		return dlStats{}, err
	}
	defer release()
	return w.dl.get(ctx, u.String(), path, rep.set)
}

// failedFetch turns an error no retry can fix into a failed result the user
// can act on.
func failedFetch(task proto.FetchTask, err error) (proto.FetchResult, bool) {
	what := "media chunk"
	if task.Kind == proto.FetchSlide {
		what = "slide image"
	}
	if errors.Is(err, ErrHostNotAllowed) {
		return failedResult(fmt.Sprintf("refusing to fetch %s %s: %v", what, sessionName(task), err)), true
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Transient() {
		return proto.FetchResult{}, false
	}
	switch se.Code {
	case http.StatusNotFound, http.StatusGone:
		return failedResult(fmt.Sprintf("the %s %s does not exist on MTS Link (HTTP %d): the recording may have been deleted, or its flow names a file MTS no longer has",
			what, sessionName(task), se.Code)), true
	case http.StatusForbidden, http.StatusUnauthorized:
		return failedResult(fmt.Sprintf("MTS Link refused the %s %s (HTTP %d); media is fetched without a cookie, so the recording's files may have been restricted or removed",
			what, sessionName(task), se.Code)), true
	}
	return failedResult(fmt.Sprintf("fetching %s %s: %v", what, sessionName(task), err)), true
}

// validate probes a downloaded media file: at least one stream, a positive
// duration (spec §3.4, §5.9), the whole announced size, and optionally a
// full decode.
func (w *Worker) validate(ctx context.Context, t heartbeater, path string, st dlStats) (proto.MediaInfo, error) {
	if st.Total >= 0 && st.Size != st.Total {
		return proto.MediaInfo{}, fmt.Errorf("got %d of %d bytes", st.Size, st.Total)
	}
	info, err := w.probe(ctx, t, path)
	if err != nil {
		return info, err
	}
	info.Size = st.Size
	return info, nil
}

// probeTimeout bounds one ffprobe run (it reads headers only).
const probeTimeout = 2 * time.Minute

// probe runs ffprobe (and the optional decode check) and validates. The
// task heartbeats while ffprobe or ffmpeg runs: both are alive and bounded
// (ffprobe by probeTimeout, the full decode of a big chunk by ctx), and on a
// busy node even ffprobe can take seconds.
func (w *Worker) probe(ctx context.Context, t heartbeater, input string) (proto.MediaInfo, error) {
	// ffprobe reads headers only and has no progress to report: it is
	// bounded by its own deadline and heartbeats on a timer meanwhile.
	stop := heartbeatEvery(t, time.Second)
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	info, err := w.deps.FFmpeg.Probe(pctx, input)
	cancel()
	stop()
	if err != nil {
		return info, err
	}
	if err := info.Validate(); err != nil {
		return info, err
	}
	if w.cfg.DecodeCheck {
		// The decode of a big chunk heartbeats from its own progress.
		if err := w.deps.FFmpeg.DecodeCheck(ctx, input, func(ffmpeg.Progress) { t.Progress() }); err != nil {
			return info, err
		}
	}
	return info, nil
}

// The playlist rule (spec §3.3, §5.4). Some recordings store only audio in
// the direct mp4 while the HLS delivery of the same chunk has video and
// audio. The sources disagree on when to take HLS: cyberb takes it whenever
// the playlist mentions "v1/" (a video rendition), Leenday whenever a
// playlist exists at all, falling back to the direct file when ffmpeg fails.
//
// The fetcher implements: download the direct file (Range-resumable, the
// original bytes) and probe it. Only when it has no video does the fetcher
// look at the playlist, and only when the playlist advertises video — the
// "v1/" substring of cyberb's rule, or a variant with a RESOLUTION or a video
// codec — does it fetch the HLS variant with ffmpeg -c copy; that result is
// kept only if it really has video (and audio when the direct file had
// audio), otherwise the direct file is kept (Leenday's fallback). This is
// what the web player shows — video where any delivery of the chunk has it —
// while a normal chunk costs no playlist request and no remux, and a chunk
// that is audio-only everywhere (a participant without a camera) stays the
// direct file. As a last resort, a chunk whose direct file stays undecodable
// after every attempt is tried once over HLS before it is reported invalid.

// tryHLS applies the playlist rule: when the HLS variant of task.URL
// advertises video, copy it with ffmpeg and keep it if it really has video,
// the audio the direct file had, and (nearly) its duration. direct is nil
// when the direct file was unusable. It returns ok=false to keep the direct
// file (or report the chunk invalid).
func (w *Worker) tryHLS(ctx context.Context, t heartbeater, task proto.FetchTask, dir string, direct *proto.MediaInfo,
	rep *reporter, log zerolog.Logger) (proto.MediaInfo, string, bool) {
	plURL := mts.HLSURL(task.URL)
	pu, err := w.policy.Check(plURL)
	if err != nil {
		log.Warn().Err(err).Msg("not trying the HLS variant")
		return proto.MediaInfo{}, "", false
	}
	body, err := w.getPlaylist(ctx, t, pu)
	if err != nil {
		log.Debug().Err(err).Msg("no HLS playlist; keeping the direct file")
		return proto.MediaInfo{}, "", false
	}
	if !mts.PlaylistHasVideo(body) {
		log.Debug().Msg("the HLS playlist has no video either; keeping the direct file")
		return proto.MediaInfo{}, "", false
	}
	release, err := w.hosts.acquire(ctx, pu.Host, t)
	if err != nil {
		return proto.MediaInfo{}, "", false
	}
	defer release()
	proxy, err := startHLSProxy(&hlsProxy{policy: w.policy, client: w.client, userAgent: w.cfg.UserAgent,
		backoff: retry.Backoff{Base: w.cfg.RetryBase, Max: w.cfg.RetryMax}, attempts: w.cfg.NetFailures, onBytes: rep.add, log: log})
	if err != nil {
		log.Warn().Err(err).Msg("not trying the HLS variant")
		return proto.MediaInfo{}, "", false
	}
	defer proxy.Close()
	rep.reset()
	out := filepath.Join(dir, "hls.mp4")
	err = w.deps.FFmpeg.Run(ctx, hlsArgs(proxy.Base(), proxy.URL(pu.String()), out), func(p ffmpegProgress) { t.Progress() })
	if ctx.Err() != nil {
		return proto.MediaInfo{}, "", false
	}
	if err != nil {
		if r := proxy.Refusal(); r != nil {
			err = fmt.Errorf("%w (the playlist pointed elsewhere: %v)", err, r)
		}
		log.Warn().Err(err).Msg("copying the HLS variant failed; keeping the direct file")
		return proto.MediaInfo{}, "", false
	}
	info, err := w.probe(ctx, t, out)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("the HLS copy is invalid; keeping the direct file")
		return proto.MediaInfo{}, "", false
	case !info.HasVideo:
		log.Warn().Msg("the HLS copy has no video after all; keeping the direct file")
		return proto.MediaInfo{}, "", false
	case direct != nil && direct.HasAudio && !info.HasAudio:
		log.Warn().Msg("the HLS copy lacks the audio of the direct file; keeping the direct file")
		return proto.MediaInfo{}, "", false
	case direct != nil && info.Duration < direct.Duration-math.Max(2, direct.Duration*0.02):
		log.Warn().Float64("hls_duration", info.Duration).Float64("direct_duration", direct.Duration).
			Msg("the HLS copy is shorter than the direct file (segments missing); keeping the direct file")
		return proto.MediaInfo{}, "", false
	}
	info.Source = sourceHLS
	info.Size = fileSize(out)
	log.Info().Float64("duration", info.Duration).Int("width", info.Width).Int("height", info.Height).
		Msg("the direct file has no video; took the HLS variant, which has")
	return info, out, true
}

// getPlaylist GETs a playlist (small, with the playlist timeout, retrying
// network errors and 5xx/429 a few times).
func (w *Worker) getPlaylist(ctx context.Context, t heartbeater, u *url.URL) ([]byte, error) {
	b := retry.Backoff{Base: w.cfg.RetryBase, Max: w.cfg.RetryMax}
	for n := 1; ; n++ {
		body, err := w.getSmall(ctx, u.String(), w.cfg.PlaylistTimeout, maxPlaylistLen)
		if err == nil || !transient(err) || n >= 3 || ctx.Err() != nil {
			return body, err
		}
		t.Progress()
		wait, inline := retryWait(err, n, b, w.cfg.MaxRetryAfter)
		if !inline {
			return nil, err
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (w *Worker) getSmall(ctx context.Context, raw string, timeout time.Duration, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	if w.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", w.cfg.UserAgent)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: resp.StatusCode, URL: redact(raw),
			RetryAfter: retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: over %d bytes", redact(raw), limit)
	}
	return body, nil
}
