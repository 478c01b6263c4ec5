package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/retry"
	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrIncompatible is wrapped by the error Provision returns when a stream,
// consumer or KV bucket already exists with a definition that cannot be
// updated in place (see IncompatibleError).
var ErrIncompatible = errors.New("incompatible definition")

// IncompatibleError says which existing definition is in the way, which
// field differs, and what to do about it.
type IncompatibleError struct {
	Kind  string // "stream", "consumer" or "KV bucket"
	Name  string // stream name, "STREAM/consumer", or bucket name
	Field string // JSON name of the field, e.g. "retention"
	Found string
	Want  string
	// Detail replaces the found/want sentence when the conflict is with
	// another object (overlapping subjects).
	Detail string
	Fix    string
}

func (e *IncompatibleError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s %s: %s; %s", e.Kind, e.Name, e.Detail, e.Fix)
	}
	return fmt.Sprintf("%s %s exists with %s %s, want %s, which cannot be changed in place; %s",
		e.Kind, e.Name, e.Field, e.Found, e.Want, e.Fix)
}

func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// Provision creates every stream, consumer and KV bucket of top, and updates
// existing ones whose definition differs in a field that can be updated in
// place (description, limits, ack wait, ...). It is idempotent: when
// everything matches it changes nothing. A definition that cannot be
// updated (retention to or from work queue, storage type, subjects taken by
// another stream, a consumer that would overlap ours on a work-queue stream)
// gives an error wrapping ErrIncompatible that says what to delete.
func Provision(ctx context.Context, js jetstream.JetStream, top Topology) error {
	_, err := provision(ctx, js, top)
	return err
}

// provision is Provision that also reports what it changed, one line per
// created or updated object.
func provision(ctx context.Context, js jetstream.JetStream, top Topology) ([]string, error) {
	var changes []string
	for _, def := range top.Streams {
		c, err := provisionStream(ctx, js, def)
		changes = append(changes, c...)
		if err != nil {
			return changes, fmt.Errorf("provisioning JetStream: %w", err)
		}
	}
	for _, b := range top.Buckets {
		c, err := provisionBucket(ctx, js, b)
		changes = append(changes, c...)
		if err != nil {
			return changes, fmt.Errorf("provisioning JetStream: %w", err)
		}
	}
	return changes, nil
}

// ------------------------------------------------------------------ streams

func provisionStream(ctx context.Context, js jetstream.JetStream, def StreamDef) ([]string, error) {
	want := def.Stream
	var changes []string
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if err := checkSubjectsFree(ctx, js, want); err != nil {
			return nil, err
		}
		if s, err = js.CreateStream(ctx, want); err != nil {
			return nil, fmt.Errorf("creating stream %s: %w", want.Name, err)
		}
		changes = append(changes, "created stream "+want.Name)
	case err != nil:
		return nil, fmt.Errorf("looking up stream %s: %w", want.Name, err)
	default:
		found := s.CachedInfo().Config
		diffs := streamDiffs(found, want)
		if d, ok := firstFixed(diffs); ok {
			return nil, &IncompatibleError{Kind: "stream", Name: want.Name, Field: d.field, Found: d.found, Want: d.want,
				Fix: fmt.Sprintf("delete it with `nats stream rm %s` (its messages are lost) or use a fresh data dir, then run again", want.Name)}
		}
		if len(diffs) > 0 {
			if !slices.Equal(sortedCopy(found.Subjects), sortedCopy(want.Subjects)) {
				if err := checkSubjectsFree(ctx, js, want); err != nil {
					return nil, err
				}
			}
			if s, err = js.UpdateStream(ctx, want); err != nil {
				return nil, fmt.Errorf("updating stream %s (%s): %w", want.Name, describe(diffs), err)
			}
			changes = append(changes, fmt.Sprintf("updated stream %s: %s", want.Name, describe(diffs)))
		}
	}
	for _, cc := range def.Consumers {
		c, err := provisionConsumer(ctx, s, want, cc)
		changes = append(changes, c...)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// checkSubjectsFree reports another stream whose subjects overlap want's;
// the server refuses two streams that capture the same subject.
func checkSubjectsFree(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Config.Name == want.Name {
			continue
		}
		for _, a := range want.Subjects {
			for _, b := range info.Config.Subjects {
				if subjectsOverlap(a, b) {
					return &IncompatibleError{Kind: "stream", Name: want.Name, Field: "subjects",
						Found: b, Want: a,
						Detail: fmt.Sprintf("its subject %s overlaps subject %s of the existing stream %s", a, b, info.Config.Name),
						Fix: fmt.Sprintf("delete that stream with `nats stream rm %s` (its messages are lost) or use a fresh data dir, then run again",
							info.Config.Name)}
				}
			}
		}
	}
	if err := l.Err(); err != nil {
		return fmt.Errorf("listing streams to check subjects of %s: %w", want.Name, err)
	}
	return nil
}

// subjectsOverlap reports whether some subject matches both patterns.
func subjectsOverlap(a, b string) bool {
	ta, tb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		if i == len(ta) || i == len(tb) {
			return len(ta) == len(tb)
		}
		x, y := ta[i], tb[i]
		if x == ">" || y == ">" {
			return true
		}
		if x != "*" && y != "*" && x != y {
			return false
		}
	}
}

// normalStream fills in the defaults the server stores for zero values, so
// a definition compares equal to what the server reports for it.
func normalStream(c jetstream.StreamConfig) jetstream.StreamConfig {
	unlimited := func(v int64) int64 {
		if v == 0 || v < -1 {
			return -1
		}
		return v
	}
	c.MaxMsgs = unlimited(c.MaxMsgs)
	c.MaxBytes = unlimited(c.MaxBytes)
	c.MaxMsgsPerSubject = unlimited(c.MaxMsgsPerSubject)
	c.MaxMsgSize = int32(unlimited(int64(c.MaxMsgSize)))
	c.MaxConsumers = int(unlimited(int64(c.MaxConsumers)))
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 && c.Mirror == nil && len(c.Sources) == 0 {
		c.Duplicates = 2 * time.Minute
		if c.MaxAge != 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge
		}
	}
	return c
}

type fieldDiff struct {
	field, found, want string
	fixed              bool // cannot be updated in place
}

func firstFixed(diffs []fieldDiff) (fieldDiff, bool) {
	for _, d := range diffs {
		if d.fixed {
			return d, true
		}
	}
	return fieldDiff{}, false
}

func describe(diffs []fieldDiff) string {
	parts := make([]string, len(diffs))
	for i, d := range diffs {
		parts[i] = fmt.Sprintf("%s %s -> %s", d.field, d.found, d.want)
	}
	return strings.Join(parts, ", ")
}

// differ collects field differences.
type differ []fieldDiff

func (d *differ) add(field string, found, want any, fixed bool) {
	f, w := show(found), show(want)
	if f != w {
		*d = append(*d, fieldDiff{field: field, found: f, want: w, fixed: fixed})
	}
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case []time.Duration:
		s := make([]string, len(x))
		for i, d := range x {
			s[i] = d.String()
		}
		return "[" + strings.Join(s, " ") + "]"
	case map[string]string:
		keys := slices.Sorted(maps.Keys(x))
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = k + "=" + x[k]
		}
		return "{" + strings.Join(s, " ") + "}"
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(v)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// userMetadata drops the _nats.* keys the server adds.
func userMetadata(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, "_nats.") {
			out[k] = v
		}
	}
	return out
}

// streamDiffs compares the fields mtsfarm's definitions use, plus the ones
// that would make a stream behave differently than defined.
func streamDiffs(found, want jetstream.StreamConfig) []fieldDiff {
	f, w := normalStream(found), normalStream(want)
	var d differ
	d.add("retention", f.Retention, w.Retention,
		f.Retention == jetstream.WorkQueuePolicy || w.Retention == jetstream.WorkQueuePolicy)
	d.add("storage", f.Storage, w.Storage, true)
	d.add("mirror", f.Mirror != nil, w.Mirror != nil, true)
	d.add("sealed", f.Sealed, w.Sealed, f.Sealed)
	d.add("deny_delete", f.DenyDelete, w.DenyDelete, f.DenyDelete)
	d.add("deny_purge", f.DenyPurge, w.DenyPurge, f.DenyPurge)
	d.add("allow_msg_ttl", f.AllowMsgTTL, w.AllowMsgTTL, f.AllowMsgTTL)
	d.add("allow_msg_counter", f.AllowMsgCounter, w.AllowMsgCounter, true)
	d.add("allow_msg_schedules", f.AllowMsgSchedules, w.AllowMsgSchedules, f.AllowMsgSchedules)
	d.add("persist_mode", f.PersistMode, w.PersistMode, true)
	d.add("subjects", sortedCopy(f.Subjects), sortedCopy(w.Subjects), false)
	d.add("description", f.Description, w.Description, false)
	d.add("max_age", f.MaxAge, w.MaxAge, false)
	d.add("max_msgs", f.MaxMsgs, w.MaxMsgs, false)
	d.add("max_bytes", f.MaxBytes, w.MaxBytes, false)
	d.add("max_msgs_per_subject", f.MaxMsgsPerSubject, w.MaxMsgsPerSubject, false)
	d.add("max_msg_size", f.MaxMsgSize, w.MaxMsgSize, false)
	d.add("max_consumers", f.MaxConsumers, w.MaxConsumers, false)
	d.add("discard", f.Discard, w.Discard, false)
	d.add("discard_new_per_subject", f.DiscardNewPerSubject, w.DiscardNewPerSubject, false)
	d.add("duplicate_window", f.Duplicates, w.Duplicates, false)
	d.add("num_replicas", f.Replicas, w.Replicas, false)
	d.add("no_ack", f.NoAck, w.NoAck, false)
	d.add("allow_rollup_hdrs", f.AllowRollup, w.AllowRollup, false)
	d.add("allow_direct", f.AllowDirect, w.AllowDirect, false)
	d.add("compression", f.Compression, w.Compression, false)
	d.add("subject_delete_marker_ttl", f.SubjectDeleteMarkerTTL, w.SubjectDeleteMarkerTTL, false)
	d.add("metadata", userMetadata(f.Metadata), userMetadata(w.Metadata), false)
	return d
}

// ---------------------------------------------------------------- consumers

func provisionConsumer(ctx context.Context, s jetstream.Stream, stream jetstream.StreamConfig, want jetstream.ConsumerConfig) ([]string, error) {
	name := want.Durable
	if name == "" {
		name = want.Name
	}
	id := stream.Name + "/" + name
	c, err := s.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if err := checkConsumerFree(ctx, s, stream, name, want); err != nil {
			return nil, err
		}
		if _, err := s.CreateConsumer(ctx, want); err != nil {
			return nil, fmt.Errorf("creating consumer %s: %w", id, err)
		}
		return []string{"created consumer " + id}, nil
	case err != nil:
		return nil, fmt.Errorf("looking up consumer %s: %w", id, err)
	}
	found := c.CachedInfo().Config
	diffs := consumerDiffs(found, want, stream)
	if d, ok := firstFixed(diffs); ok {
		return nil, &IncompatibleError{Kind: "consumer", Name: id, Field: d.field, Found: d.found, Want: d.want,
			Fix: fmt.Sprintf("delete it with `nats consumer rm %s %s` (messages stay in the stream; unacked deliveries are redelivered), then run again",
				stream.Name, name)}
	}
	if len(diffs) == 0 {
		return nil, nil
	}
	if !slices.Equal(filters(found, stream), filters(want, stream)) {
		if err := checkConsumerFree(ctx, s, stream, name, want); err != nil {
			return nil, err
		}
	}
	if _, err := s.UpdateConsumer(ctx, want); err != nil {
		return nil, fmt.Errorf("updating consumer %s (%s): %w", id, describe(diffs), err)
	}
	return []string{fmt.Sprintf("updated consumer %s: %s", id, describe(diffs))}, nil
}

// filters is the sorted set of subjects a consumer takes (the stream's
// subjects when it has no filter).
func filters(c jetstream.ConsumerConfig, stream jetstream.StreamConfig) []string {
	var fs []string
	if c.FilterSubject != "" {
		fs = append(fs, c.FilterSubject)
	}
	fs = append(fs, c.FilterSubjects...)
	if len(fs) == 0 {
		fs = stream.Subjects
	}
	return sortedCopy(fs)
}

// checkConsumerFree reports another consumer on a work-queue stream whose
// filter overlaps want's: the server allows only one consumer per subject
// there.
func checkConsumerFree(ctx context.Context, s jetstream.Stream, stream jetstream.StreamConfig, name string, want jetstream.ConsumerConfig) error {
	if stream.Retention != jetstream.WorkQueuePolicy {
		return nil
	}
	mine := filters(want, stream)
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		if info.Name == name {
			continue
		}
		for _, a := range mine {
			for _, b := range filters(info.Config, stream) {
				if subjectsOverlap(a, b) {
					return &IncompatibleError{Kind: "consumer", Name: stream.Name + "/" + name, Field: "filter_subject",
						Found: b, Want: a,
						Detail: fmt.Sprintf("its filter %s overlaps filter %s of the existing consumer %s, and a work-queue stream allows one consumer per subject",
							a, b, info.Name),
						Fix: fmt.Sprintf("delete that consumer with `nats consumer rm %s %s`, then run again", stream.Name, info.Name)}
				}
			}
		}
	}
	if err := l.Err(); err != nil {
		return fmt.Errorf("listing consumers of %s: %w", stream.Name, err)
	}
	return nil
}

// normalConsumer fills in the defaults the server stores for zero values of
// a pull consumer.
func normalConsumer(c jetstream.ConsumerConfig, stream jetstream.StreamConfig) jetstream.ConsumerConfig {
	if c.MaxDeliver == 0 || c.MaxDeliver < -1 {
		c.MaxDeliver = -1
	}
	if c.DeliverSubject == "" && c.MaxWaiting == 0 {
		c.MaxWaiting = 512
	}
	if c.AckPolicy != jetstream.AckNonePolicy {
		if c.AckWait == 0 {
			c.AckWait = 30 * time.Second
		}
		if len(c.BackOff) > 0 {
			c.AckWait = c.BackOff[0]
		}
		if c.MaxAckPending == 0 {
			c.MaxAckPending = 1000
		}
	}
	if c.Replicas == 0 {
		c.Replicas = stream.Replicas
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

func consumerDiffs(found, want jetstream.ConsumerConfig, stream jetstream.StreamConfig) []fieldDiff {
	f, w := normalConsumer(found, stream), normalConsumer(want, stream)
	var d differ
	d.add("deliver_policy", f.DeliverPolicy, w.DeliverPolicy, true)
	d.add("ack_policy", f.AckPolicy, w.AckPolicy, true)
	d.add("replay_policy", f.ReplayPolicy, w.ReplayPolicy, true)
	d.add("mem_storage", f.MemoryStorage, w.MemoryStorage, true)
	d.add("opt_start_seq", f.OptStartSeq, w.OptStartSeq, true)
	d.add("max_waiting", f.MaxWaiting, w.MaxWaiting, true)
	d.add("pull", f.DeliverSubject == "", w.DeliverSubject == "", true)
	d.add("filter_subjects", filters(f, stream), filters(w, stream), false)
	d.add("description", f.Description, w.Description, false)
	d.add("ack_wait", f.AckWait, w.AckWait, false)
	d.add("max_deliver", f.MaxDeliver, w.MaxDeliver, false)
	d.add("backoff", f.BackOff, w.BackOff, false)
	d.add("max_ack_pending", f.MaxAckPending, w.MaxAckPending, false)
	d.add("headers_only", f.HeadersOnly, w.HeadersOnly, false)
	d.add("max_batch", f.MaxRequestBatch, w.MaxRequestBatch, false)
	d.add("max_expires", f.MaxRequestExpires, w.MaxRequestExpires, false)
	d.add("max_bytes", f.MaxRequestMaxBytes, w.MaxRequestMaxBytes, false)
	d.add("inactive_threshold", f.InactiveThreshold, w.InactiveThreshold, false)
	d.add("num_replicas", f.Replicas, w.Replicas, false)
	d.add("priority_policy", f.PriorityPolicy, w.PriorityPolicy, false)
	d.add("priority_groups", f.PriorityGroups, w.PriorityGroups, false)
	d.add("metadata", userMetadata(f.Metadata), userMetadata(w.Metadata), false)
	return d
}

// --------------------------------------------------------------- KV buckets

func provisionBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) ([]string, error) {
	kv, err := js.KeyValue(ctx, want.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		if _, err := js.CreateKeyValue(ctx, want); err != nil {
			return nil, fmt.Errorf("creating KV bucket %s: %w", want.Bucket, err)
		}
		if err := applyDirect(ctx, js, want.Bucket); err != nil {
			return nil, err
		}
		return []string{"created KV bucket " + want.Bucket}, nil
	case err != nil:
		return nil, fmt.Errorf("looking up KV bucket %s: %w", want.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading KV bucket %s: %w", want.Bucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return nil, fmt.Errorf("reading KV bucket %s: unexpected status type %T", want.Bucket, st)
	}
	diffs := streamDiffs(bs.StreamInfo().Config, kvStreamConfig(want))
	if d, ok := firstFixed(diffs); ok {
		return nil, &IncompatibleError{Kind: "KV bucket", Name: want.Bucket, Field: d.field, Found: d.found, Want: d.want,
			Fix: fmt.Sprintf("delete it with `nats kv rm %s` (its keys are lost) or use a fresh data dir, then run again", want.Bucket)}
	}
	if len(diffs) == 0 {
		return nil, nil
	}
	if _, err := js.UpdateKeyValue(ctx, want); err != nil {
		return nil, fmt.Errorf("updating KV bucket %s (%s): %w", want.Bucket, describe(diffs), err)
	}
	if err := applyDirect(ctx, js, want.Bucket); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("updated KV bucket %s: %s", want.Bucket, describe(diffs))}, nil
}

// consistentBucket: a bucket whose reads must see the last write. Job records
// are: a submit reads the record it has just created, and on a cluster a
// direct get may be answered by a replica that has not applied the write yet
// (the farm e2e saw "job not found" for a job just made). Their stream has
// AllowDirect off, so every read goes to the stream's leader. Presence may
// be a moment stale, so the workers bucket keeps direct gets.
func consistentBucket(bucket string) bool { return bucket == proto.BucketJobs }

// applyDirect turns direct gets off on a consistent bucket's stream (nats.go
// creates and updates every bucket with them on).
func applyDirect(ctx context.Context, js jetstream.JetStream, bucket string) error {
	if !consistentBucket(bucket) {
		return nil
	}
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return fmt.Errorf("reading the stream of KV bucket %s: %w", bucket, err)
	}
	cfg := s.CachedInfo().Config
	if !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("turning direct gets off on KV bucket %s (reads must see the last write): %w", bucket, err)
	}
	return nil
}

// kvStreamConfig is the stream nats.go makes for a bucket (mirrors and
// sources aside), in jetstream/kv.go prepareKeyValueConfig.
func kvStreamConfig(c jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(1)
	if c.History > 0 {
		history = int64(c.History)
	}
	dup := 2 * time.Minute
	if c.TTL > 0 && c.TTL < dup {
		dup = c.TTL
	}
	var comp jetstream.StoreCompression
	if c.Compression {
		comp = jetstream.S2Compression
	}
	return jetstream.StreamConfig{
		Name:                   "KV_" + c.Bucket,
		Subjects:               []string{"$KV." + c.Bucket + ".>"},
		Description:            c.Description,
		MaxMsgsPerSubject:      history,
		MaxBytes:               c.MaxBytes,
		MaxAge:                 c.TTL,
		MaxMsgSize:             c.MaxValueSize,
		Storage:                c.Storage,
		Replicas:               c.Replicas,
		AllowRollup:            true,
		DenyDelete:             true,
		Duplicates:             dup,
		MaxMsgs:                -1,
		MaxConsumers:           -1,
		AllowDirect:            !consistentBucket(c.Bucket),
		Compression:            comp,
		Discard:                jetstream.DiscardNew,
		AllowMsgTTL:            c.LimitMarkerTTL != 0,
		SubjectDeleteMarkerTTL: c.LimitMarkerTTL,
		Metadata:               c.Metadata,
	}
}

// ProvisionWait is Provision for a process that may start before its NATS
// is ready (a Kubernetes rollout, a cluster still electing its JetStream
// leader): while provisioning fails for any reason but an incompatible
// definition, it tries again with backoff, logging why, until it succeeds,
// limit passes or ctx ends. An incompatible definition is returned at once:
// waiting does not change it.
func ProvisionWait(ctx context.Context, js jetstream.JetStream, top Topology, limit time.Duration, log zerolog.Logger) error {
	deadline := time.Now().Add(limit)
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := Provision(ctx, js, top)
		if err == nil || errors.Is(err, ErrIncompatible) || ctx.Err() != nil {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (still failing after %s: is JetStream enabled, and does the cluster have a leader?)", err, limit)
		}
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("NATS JetStream is not ready; provisioning again")
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}
