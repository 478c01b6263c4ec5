package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mtsfarm/mtsfarm/coordinator/finalize"
	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
)

// The premix takes the audio-only voices off the serial tail: as soon as a
// job's chunks are all fetched, the coordinator that saw the last one mixes
// its audio-only tracks into one lossless file (finalize.Premix) while the
// renderers render, and stores it under a key made from exactly what it
// mixed. Finalize then joins, encodes and checks only. It is an
// optimization, never a step a job waits for: a premix that is missing
// (its coordinator died, another premix was running), failed or made from
// other tracks is ignored and finalize mixes the tracks itself.

// premixTrack is one audio-only track as the premix and finalize see it.
type premixTrack struct {
	Key                     string
	Start, Offset, Duration float64
}

// premixSidecar is stored beside the premix: what finalize reports.
type premixSidecar struct {
	Mixed    int      `json:"mixed"`
	Warnings []string `json:"warnings,omitempty"`
}

// audioTracks lists the job's stored audio-only tracks, in plan order.
func audioTracks(j *proto.Job, p *proto.Plan) []premixTrack {
	byURL := chunkByURL(j)
	urls := sessionURLs(p)
	var out []premixTrack
	for _, tr := range p.AudioTracks {
		ch := byURL[urls[tr.Session]]
		if ch == nil || ch.State != proto.TaskDone {
			continue
		}
		out = append(out, premixTrack{Key: ch.Key, Start: tr.Start, Offset: tr.Offset, Duration: tr.Duration})
	}
	return out
}

// premixKeys are where the premix of tracks over duration seconds in the
// given audio format goes, and its sidecar: the name is a hash of all of
// it, so a premix of other tracks is never taken for this one.
func premixKeys(job string, tracks []premixTrack, duration float64, rate, channels int) (audio, sidecar string) {
	b, _ := json.Marshal(struct {
		Tracks         []premixTrack
		Duration       float64
		Rate, Channels int
	}{tracks, duration, rate, channels})
	sum := sha256.Sum256(b)
	base := proto.JobPrefix(job) + "audio/premix-" + hex.EncodeToString(sum[:12])
	return base + ".flac", base + ".json"
}

// runningPremix is a premix in progress on this coordinator: done closes
// when it ends; beat is the Unix nanoseconds of its last progress.
type runningPremix struct {
	done chan struct{}
	beat atomic.Int64
}

// startPremix premixes job id's audio-only tracks in the background unless
// a premix is already running on this coordinator (then finalize mixes).
func (c *Coordinator) startPremix(id string) {
	ctx := c.runCtx
	if ctx == nil {
		return
	}
	select {
	case c.premixSlot <- struct{}{}:
	default:
		c.log.Debug().Str("job_id", id).Msg("premix: another one is running; finalize will mix this job's tracks")
		return
	}
	rp := &runningPremix{done: make(chan struct{})}
	rp.beat.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.premixes[id] = rp
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.premixes, id)
			c.mu.Unlock()
			close(rp.done)
			<-c.premixSlot
		}()
		if err := c.premix(ctx, id, rp); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Str("job_id", id).Msg("premix failed; finalize will mix the tracks itself")
		}
	}()
}

// premixStall is how long a premix may show no progress before a finalize
// waiting for it stops waiting and mixes the tracks itself.
const premixStall = 30 * time.Second

// awaitPremix waits for a premix of job id running on this coordinator to
// end, heartbeating while it makes progress: it is doing the work finalize
// would otherwise start from scratch. It returns at once when none runs.
func (c *Coordinator) awaitPremix(ctx context.Context, id string, heartbeat func()) {
	c.mu.Lock()
	rp := c.premixes[id]
	c.mu.Unlock()
	if rp == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-rp.done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if time.Since(time.Unix(0, rp.beat.Load())) > premixStall {
				return
			}
			heartbeat()
		}
	}
}

// premix mixes the job's audio-only tracks and stores the result.
func (c *Coordinator) premix(ctx context.Context, id string, rp *runningPremix) error {
	beat := func() { rp.beat.Store(time.Now().UnixNano()) }
	j, _, err := c.jobs.get(ctx, id)
	if err != nil {
		return err
	}
	p, err := c.planFor(ctx, j, false)
	if err != nil {
		return err
	}
	tracks := audioTracks(j, p)
	if len(tracks) == 0 {
		return nil
	}
	rate, channels := c.cfg.Encoding.AudioRate, c.cfg.Encoding.AudioChannels
	audioKey, sideKey := premixKeys(id, tracks, p.Duration, rate, channels)
	if ok, err := c.store.Exists(ctx, sideKey); err == nil && ok {
		return nil // made before (a retry with the same tracks)
	}
	started := c.now()
	work, err := os.MkdirTemp(c.cfg.WorkDir, finalizeDirPrefix+"premix-"+id+"-")
	if err != nil {
		return fmt.Errorf("making premix scratch dir: %w", err)
	}
	defer os.RemoveAll(work)
	fetch := &localFiles{store: c.store, dir: work, heartbeat: beat}
	in := finalize.PremixInput{Duration: p.Duration, AudioRate: rate, AudioChannels: channels,
		WorkDir: filepath.Join(work, "mix"), Output: filepath.Join(work, "premix.flac")}
	for _, t := range tracks {
		path, err := fetch.local(ctx, t.Key)
		if err != nil {
			return err
		}
		in.Tracks = append(in.Tracks, finalize.AudioTrackFile{Path: path, Start: t.Start, Offset: t.Offset, Duration: t.Duration})
	}
	res, err := finalize.Premix(ctx, c.ff, in, func(string, float64) { beat() })
	if err != nil {
		return err
	}
	if res.Mixed > 0 {
		if _, err := c.store.PutFile(ctx, audioKey, in.Output, blob.PutOptions{ContentType: "audio/flac"}); err != nil {
			return fmt.Errorf("storing the premix: %w", err)
		}
	}
	side, _ := json.Marshal(premixSidecar{Mixed: res.Mixed, Warnings: res.Warnings})
	if _, err := c.store.Put(ctx, sideKey, bytes.NewReader(side), int64(len(side)), blob.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("storing the premix's sidecar: %w", err)
	}
	c.log.Info().Str("job_id", id).Int("tracks", res.Mixed).Dur("took", c.now().Sub(started)).
		Msg("premix: the audio-only tracks are mixed while the units render")
	return nil
}

// usePremix puts the job's premix into in instead of its tracks when one
// made from exactly these tracks is stored, and returns its warnings;
// found is false when finalize must mix the tracks itself.
func (c *Coordinator) usePremix(ctx context.Context, id string, tracks []premixTrack, in *finalize.Input, fetch *localFiles) (warnings []string, found bool, err error) {
	audioKey, sideKey := premixKeys(id, tracks, in.Duration, in.AudioRate, in.AudioChannels)
	rc, _, err := c.store.Get(ctx, sideKey)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	var side premixSidecar
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&side); err != nil {
		return nil, false, nil // unreadable: mix the tracks instead
	}
	if side.Mixed > 0 {
		path, err := fetch.local(ctx, audioKey)
		if errors.Is(err, blob.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		in.Premixed, in.PremixedTracks = path, side.Mixed
	}
	in.Tracks = nil
	return side.Warnings, true, nil
}
