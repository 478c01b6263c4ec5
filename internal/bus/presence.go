package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Presence keeps a worker's entry in the workers KV bucket (proto.BucketWorkers,
// which expires entries after proto.WorkerTTL) while Run runs.
type Presence struct {
	KV jetstream.KeyValue
	// Info returns the current entry; it is called before every put, so it
	// can report the tasks being worked on. Seen is set by Presence.
	Info func() proto.WorkerInfo
	// Every is the renewal interval (default 10s).
	Every time.Duration
	Log   zerolog.Logger
}

const defaultPresenceEvery = 10 * time.Second

// Run puts Info() under its ID at once and then every Every until ctx ends,
// then deletes the key. An entry that fails validation is an error; a failed
// put (NATS reconnecting) is logged and tried again at the next tick.
func (p *Presence) Run(ctx context.Context) error {
	if p.KV == nil || p.Info == nil {
		return errors.New("presence: KV and Info must be set")
	}
	every := p.Every
	if every <= 0 {
		every = defaultPresenceEvery
	}
	id, err := p.put(ctx)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		if err := p.KV.Delete(dctx, id); err != nil {
			p.Log.Warn().Err(err).Str("worker", id).Msg("deleting the presence entry failed; it expires by itself")
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			next, err := p.put(ctx)
			if err != nil {
				return err
			}
			if next != id {
				return fmt.Errorf("presence: worker id changed from %s to %s; it must stay the same", id, next)
			}
		}
	}
}

// Start runs Run in the background until the returned stop is called, not
// until ctx ends (only ctx's values are kept): a worker keeps its entry while
// it hands its tasks back after a shutdown. stop waits until Run has
// returned and deleted the entry. An error that ends Run is logged.
func (p *Presence) Start(ctx context.Context) (stop func()) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(pctx); err != nil {
			ev := p.Log.Error().Err(err)
			if p.Info != nil {
				ev = ev.Str("worker", p.Info().ID)
			}
			ev.Msg("presence stopped")
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// put writes the current entry and returns its key. Only an invalid entry is
// an error.
func (p *Presence) put(ctx context.Context) (string, error) {
	info := p.Info()
	info.Seen = time.Now().UTC()
	if err := info.Validate(); err != nil {
		return info.ID, fmt.Errorf("presence of worker %q: %w", info.ID, err)
	}
	data, err := json.Marshal(info)
	if err != nil {
		return info.ID, fmt.Errorf("presence of worker %s: encoding: %w", info.ID, err)
	}
	if _, err := p.KV.Put(ctx, info.ID, data); err != nil {
		if ctx.Err() == nil {
			p.Log.Warn().Err(err).Str("worker", info.ID).Msg("putting the presence entry failed; trying again")
		}
	}
	return info.ID, nil
}
