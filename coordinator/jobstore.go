package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrJobNotFound is returned for an unknown job id.
var ErrJobNotFound = errors.New("job not found")

// indexPrefix marks the keys of the jobs bucket that map a recording and its
// options to the job made for them (idempotent submission).
const indexPrefix = "idx."

// jobStore keeps job records in the KV bucket, changed only by
// compare-and-set.
type jobStore struct {
	kv jetstream.KeyValue
}

func (s *jobStore) get(ctx context.Context, id string) (*proto.Job, uint64, error) {
	if !proto.ValidJobID(id) {
		return nil, 0, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading job %s: %w", id, err)
	}
	var j proto.Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return nil, 0, fmt.Errorf("decoding job %s: %w", id, err)
	}
	return &j, e.Revision(), nil
}

// create stores a new job record; it fails if the id exists.
func (s *jobStore) create(ctx context.Context, j *proto.Job) error {
	if err := j.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, j.ID, b); err != nil {
		return fmt.Errorf("creating job %s: %w", j.ID, err)
	}
	return nil
}

// errNoChange may be returned by an update function to skip the write.
var errNoChange = errors.New("no change")

// update applies fn to the latest record and writes it back with
// compare-and-set, retrying from a fresh read when another writer won.
// It returns the record as written (or as read, when fn returned errNoChange).
func (s *jobStore) update(ctx context.Context, id string, fn func(*proto.Job) error) (*proto.Job, error) {
	for attempt := 0; ; attempt++ {
		j, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := fn(j); err != nil {
			if errors.Is(err, errNoChange) {
				return j, nil
			}
			return nil, err
		}
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("updating job %s: %w", id, err)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		_, err = s.kv.Update(ctx, id, b, rev)
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) || attempt >= 50 {
			return nil, fmt.Errorf("updating job %s: %w", id, err)
		}
	}
}

// list returns every job record, newest first.
func (s *jobStore) list(ctx context.Context) ([]*proto.Job, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	var jobs []*proto.Job
	for key := range lister.Keys() {
		if strings.HasPrefix(key, indexPrefix) {
			continue
		}
		j, _, err := s.get(ctx, key)
		if err != nil {
			if errors.Is(err, ErrJobNotFound) {
				continue
			}
			return nil, err
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].Created.Equal(jobs[b].Created) {
			return jobs[a].Created.After(jobs[b].Created)
		}
		return jobs[a].ID < jobs[b].ID
	})
	return jobs, nil
}

// remove deletes a finished job's record with its history, unless it
// changed since j was read (a retry), and its idempotency key if that still
// names it, so the recording can be submitted again as a new job.
func (s *jobStore) remove(ctx context.Context, j *proto.Job) error {
	cur, rev, err := s.get(ctx, j.ID)
	if errors.Is(err, ErrJobNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !cur.State.Terminal() || !cur.Updated.Equal(j.Updated) {
		return nil // retried meanwhile
	}
	if err := s.kv.Purge(ctx, j.ID, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	key := indexPrefix + identity(j.Recording, j.Spec)
	if e, err := s.kv.Get(ctx, key); err == nil && string(e.Value()) == j.ID {
		if err := s.kv.Purge(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return nil
}

// claimIndex maps an identity key to a job id unless one is mapped already;
// it returns the id that holds the key.
func (s *jobStore) claimIndex(ctx context.Context, identity, id string) (string, error) {
	key := indexPrefix + identity
	if _, err := s.kv.Create(ctx, key, []byte(id)); err == nil {
		return id, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("claiming job identity: %w", err)
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("reading job identity: %w", err)
	}
	return string(e.Value()), nil
}

// setIndex points an identity key at id (a forced resubmission).
func (s *jobStore) setIndex(ctx context.Context, identity, id string) error {
	_, err := s.kv.Put(ctx, indexPrefix+identity, []byte(id))
	return err
}

// identity is the idempotency key of a job: the recording plus every option
// that changes the output. The session cookie and priority do not.
func identity(recording string, s proto.JobSpec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", recording, s.Name,
		strconv.FormatFloat(s.UnitSeconds, 'g', -1, 64), strconv.Itoa(s.MaxHeight))
	return hex.EncodeToString(h.Sum(nil))[:40]
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newJobID returns a random job id: 16 characters of [0-9a-v].
func newJobID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return idEncoding.EncodeToString(b[:])
}
