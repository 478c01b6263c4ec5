package ops

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Check is one readiness condition: nil when it holds.
type Check struct {
	Name string
	Func func(context.Context) error
}

// NATSCheck holds while nc is connected (not reconnecting, not closed).
func NATSCheck(nc *nats.Conn) Check {
	return Check{Name: "nats", Func: func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", s)
		}
		return nil
	}}
}

// StoreProbeKey is the key StoreCheck asks for. It never exists; it is under
// media/ because every farm role's S3 user may read there
// (deploy/minio/*.json), so the check needs no permission of its own.
const StoreProbeKey = "media/readyz.probe"

// StoreCheck holds while the object store answers (a key that does not exist
// is an answer).
func StoreCheck(store blob.Store) Check {
	return Check{Name: "store", Func: func(ctx context.Context) error {
		_, err := store.Exists(ctx, StoreProbeKey)
		return err
	}}
}

// Draining, when set, makes /readyz fail while the process drains (SIGTERM):
// a load balancer or KEDA stops counting on it.
type Draining func() bool

const checkTimeout = 3 * time.Second

// Handler serves /metrics, /healthz and /readyz.
func Handler(m *Metrics, draining Draining, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		var fails []string
		if draining != nil && draining() {
			fails = append(fails, "draining: finishing its tasks before it exits")
		}
		for _, c := range checks {
			if err := c.Func(ctx); err != nil {
				fails = append(fails, c.Name+": "+proto.RedactURL(err.Error()))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(fails) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:\n"+strings.Join(fails, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Paths are the paths Handler serves (for a role that shares its listener
// with the dashboard).
var Paths = []string{"/metrics", "/healthz", "/readyz"}

// Mount returns a handler that sends Paths to ops and everything else to
// rest.
func Mount(ops, rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range Paths {
		mux.Handle(p, ops)
	}
	mux.Handle("/", rest)
	return mux
}

// QueueDepth is a collector of the farm's queues: for each work stream's
// lane consumers, the tasks waiting (mtsfarm_queue_pending) and being worked
// on (mtsfarm_queue_ack_pending), read from JetStream at scrape time.
type QueueDepth struct {
	JS jetstream.JetStream
	// Queues are the stream → normal-lane consumer names to report.
	Queues  map[string]string
	pending *prometheus.Desc
	acking  *prometheus.Desc
}

// NewQueueDepth reports the queues of streams (stream → consumer base).
func NewQueueDepth(js jetstream.JetStream, queues map[string]string) *QueueDepth {
	return &QueueDepth{JS: js, Queues: queues,
		pending: prometheus.NewDesc("mtsfarm_queue_pending", "Tasks waiting in a work queue lane.", []string{"stream", "lane"}, nil),
		acking:  prometheus.NewDesc("mtsfarm_queue_ack_pending", "Tasks of a work queue lane delivered and not yet settled.", []string{"stream", "lane"}, nil)}
}

// FarmQueues are every work stream with its consumer base.
var FarmQueues = map[string]string{proto.StreamFetch: proto.ConsumerFetchers,
	proto.StreamRender: proto.ConsumerRenderers, proto.StreamFinalize: proto.ConsumerFinalizers}

func (q *QueueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.pending; ch <- q.acking }

func (q *QueueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	for stream, base := range q.Queues {
		for _, l := range proto.Lanes {
			c, err := q.JS.Consumer(ctx, stream, l.Consumer(base))
			if err != nil {
				ch <- prometheus.NewInvalidMetric(q.pending, err)
				continue
			}
			info, err := c.Info(ctx)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(q.pending, err)
				continue
			}
			lane := string(l)
			if lane == "" {
				lane = "normal"
			}
			ch <- prometheus.MustNewConstMetric(q.pending, prometheus.GaugeValue, float64(info.NumPending), stream, lane)
			ch <- prometheus.MustNewConstMetric(q.acking, prometheus.GaugeValue, float64(info.NumAckPending), stream, lane)
		}
	}
}
