package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// snapshot is every stream and consumer config with its created time.
type snapshot map[string]string

func takeSnapshot(t *testing.T, js jetstream.JetStream) snapshot {
	t.Helper()
	ctx := context.Background()
	snap := snapshot{}
	l := js.ListStreams(ctx)
	for si := range l.Info() {
		snap["stream "+si.Config.Name] = fmtJSON(t, si.Config) + " created " + si.Created.String()
		s, err := js.Stream(ctx, si.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		cl := s.ListConsumers(ctx)
		for ci := range cl.Info() {
			snap["consumer "+si.Config.Name+"/"+ci.Name] = fmtJSON(t, ci.Config) + " created " + ci.Created.String()
		}
		if err := cl.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestProvisionIsIdempotent(t *testing.T) {
	_, _, js := bustest.Start(t) // provisions once
	ctx := context.Background()
	top := bus.Definitions(1)
	before := takeSnapshot(t, js)
	want := len(top.Streams) + len(top.Buckets)
	for _, s := range top.Streams {
		want += len(s.Consumers)
	}
	// 6 streams, 2 buckets, a consumer per lane (3) on fetch, render and
	// finalize, one on intake and results.
	if n := len(before); n != want || want != 6+2+3*3+2 {
		t.Fatalf("after provisioning: %d streams and consumers, want %d: %v", n, want, before)
	}
	changes, err := bus.ProvisionChanges(ctx, js, top)
	if err != nil {
		t.Fatalf("second provisioning: %v", err)
	}
	if len(changes) != 0 {
		t.Errorf("second provisioning changed things: %q", changes)
	}
	after := takeSnapshot(t, js)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed:\n before %s\n after  %s", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d objects after, %d before", len(after), len(before))
	}
}

func TestProvisionUpdatesWhatCanBeUpdated(t *testing.T) {
	top := bus.Definitions(1)
	old := bustest.WithAckWait(top, 30*time.Second)
	old.Streams[1].Stream.Description = "an older description"
	old.Streams[1].Stream.MaxAge = 48 * time.Hour
	_, _, js := bustest.StartWith(t, old)
	ctx := context.Background()

	changes, err := bus.ProvisionChanges(ctx, js, top)
	if err != nil {
		t.Fatalf("provisioning over an older compatible definition: %v", err)
	}
	var want []string
	for _, s := range top.Streams {
		if s.Stream.Name == proto.StreamFetch {
			want = append(want, `updated stream MTSFARM_FETCH: description "an older description" -> "resolve and fetch tasks", max_age 48h0m0s -> 0s`)
		}
		for _, c := range s.Consumers {
			want = append(want, "updated consumer "+s.Stream.Name+"/"+c.Durable+": ack_wait 30s -> 1m0s")
		}
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
	s, err := js.Stream(ctx, proto.StreamFetch)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Description != top.Streams[1].Stream.Description || got.MaxAge != 0 {
		t.Errorf("stream after update: description %q, max age %s", got.Description, got.MaxAge)
	}
	c, err := s.Consumer(ctx, proto.ConsumerFetchers)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.AckWait; got != proto.AckWait {
		t.Errorf("consumer ack wait after update: %s, want %s", got, proto.AckWait)
	}
	if changes, err := bus.ProvisionChanges(ctx, js, top); err != nil || len(changes) != 0 {
		t.Errorf("provisioning again: changes %q, error %v", changes, err)
	}
}

func TestProvisionRefusesIncompatibleDefinitions(t *testing.T) {
	fetch := bus.Definitions(1).Streams[1]
	render := bus.Definitions(1).Streams[2]
	tests := []struct {
		name  string
		setup func(ctx context.Context, js jetstream.JetStream) error
		field string
		want  []string // substrings of the message
	}{{
		name: "work queue stream with limits retention",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			cfg := fetch.Stream
			cfg.Retention = jetstream.LimitsPolicy
			_, err := js.CreateStream(ctx, cfg)
			return err
		},
		field: "retention",
		want: []string{"stream MTSFARM_FETCH exists with retention Limits, want WorkQueue",
			"`nats stream rm MTSFARM_FETCH`", "fresh data dir"},
	}, {
		name: "events stream in memory",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			cfg := bus.Definitions(1).Streams[5].Stream
			cfg.Storage = jetstream.MemoryStorage
			_, err := js.CreateStream(ctx, cfg)
			return err
		},
		field: "storage",
		want:  []string{"stream MTSFARM_EVENTS exists with storage Memory, want File", "`nats stream rm MTSFARM_EVENTS`"},
	}, {
		name: "another stream takes the subjects",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OLDFARM", Subjects: []string{"mtsfarm.render.*"}})
			return err
		},
		field: "subjects",
		want: []string{"stream MTSFARM_RENDER: its subject mtsfarm.render.> overlaps subject mtsfarm.render.* of the existing stream OLDFARM",
			"`nats stream rm OLDFARM`"},
	}, {
		name: "consumer with another max waiting",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			s, err := js.CreateStream(ctx, fetch.Stream)
			if err != nil {
				return err
			}
			cfg := fetch.Consumers[0]
			cfg.MaxWaiting = 64
			_, err = s.CreateConsumer(ctx, cfg)
			return err
		},
		field: "max_waiting",
		want: []string{"consumer MTSFARM_FETCH/fetchers-high exists with max_waiting 64, want 512",
			"`nats consumer rm MTSFARM_FETCH fetchers-high`"},
	}, {
		name: "another consumer on the work queue",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			s, err := js.CreateStream(ctx, render.Stream)
			if err != nil {
				return err
			}
			_, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "legacy", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		},
		field: "filter_subject",
		want: []string{"consumer MTSFARM_RENDER/renderers-high: its filter mtsfarm.render.*.high overlaps filter mtsfarm.render.> of the existing consumer legacy",
			"`nats consumer rm MTSFARM_RENDER legacy`"},
	}, {
		name: "workers bucket on file",
		setup: func(ctx context.Context, js jetstream.JetStream) error {
			cfg := bus.Definitions(1).Buckets[1]
			cfg.Storage = jetstream.FileStorage
			_, err := js.CreateKeyValue(ctx, cfg)
			return err
		},
		field: "storage",
		want:  []string{"KV bucket mtsfarm_workers exists with storage File, want Memory", "`nats kv rm mtsfarm_workers`"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, js := bustest.StartWith(t, bus.Topology{})
			ctx := context.Background()
			if err := tc.setup(ctx, js); err != nil {
				t.Fatalf("setting up the older definition: %v", err)
			}
			before := takeSnapshot(t, js)
			err := bus.Provision(ctx, js, bus.Definitions(1))
			if !errors.Is(err, bus.ErrIncompatible) {
				t.Fatalf("Provision: %v, want an error wrapping ErrIncompatible", err)
			}
			t.Logf("Provision: %v", err)
			var ie *bus.IncompatibleError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("error %#v, want an *IncompatibleError about %s", ie, tc.field)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			after := takeSnapshot(t, js)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("Provision changed the incompatible %s:\n before %s\n after  %s", k, v, after[k])
				}
			}
		})
	}
}

func TestSubjectsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "x.y", true},
		{"a.*.c", "a.b.*", true},
		{"a.*.c", "a.b.d", false},
		{"mtsfarm.fetch.*", "mtsfarm.render.*", false},
		{"mtsfarm.result.*.*", "mtsfarm.result.>", true},
	}
	for _, tc := range tests {
		if got := bus.SubjectsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("overlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := bus.SubjectsOverlap(tc.b, tc.a); got != tc.want {
			t.Errorf("overlap(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// Job records are read from the stream leader (no direct gets, which a
// lagging replica may answer), also on a farm provisioned before that.
func TestJobsBucketReadsFromTheLeader(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	direct := func(bucket string) bool {
		s, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.AllowDirect
	}
	if direct(proto.BucketJobs) || !direct(proto.BucketWorkers) {
		t.Fatalf("direct gets: jobs %v, workers %v; want off and on", direct(proto.BucketJobs), direct(proto.BucketWorkers))
	}
	// An older farm: the bucket as nats.go makes it, direct gets on.
	s, _ := js.Stream(ctx, "KV_"+proto.BucketJobs)
	cfg := s.CachedInfo().Config
	cfg.AllowDirect = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	changes, err := bus.ProvisionChanges(ctx, js, bus.Definitions(1))
	if err != nil || len(changes) != 1 || !strings.Contains(changes[0], "allow_direct") {
		t.Fatalf("upgrading: %v %q", err, changes)
	}
	if direct(proto.BucketJobs) {
		t.Error("the upgrade left direct gets on")
	}
}

// A coordinator that starts before its NATS has JetStream (a rollout, a
// cluster still electing its leader) waits for it instead of giving up.
func TestProvisionWaitsForJetStream(t *testing.T) {
	srv := plainServer(t, &server.Options{})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- bus.ProvisionWait(ctx, js, bus.Definitions(1), 30*time.Second, bustest.Logger(t))
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("ProvisionWait returned %v before JetStream was enabled", err)
	default:
	}
	if err := srv.EnableJetStream(&server.JetStreamConfig{StoreDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("ProvisionWait after JetStream came up: %v", err)
	}
	if _, err := js.Stream(context.Background(), proto.StreamRender); err != nil {
		t.Errorf("the render stream after provisioning: %v", err)
	}
	// Without JetStream for good, it gives up after its limit, saying why.
	nc2, err := nats.Connect(plainServer(t, &server.Options{}).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	err = bus.ProvisionWait(context.Background(), js2, bus.Definitions(1), 2*time.Second, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "still failing after 2s") {
		t.Errorf("ProvisionWait without JetStream: %v, want it to give up after 2s saying why", err)
	}
}
