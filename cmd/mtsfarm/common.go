package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/mtsfarm/mtsfarm/internal/blob"
	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

// Flag groups shared by the farm roles (coordinator, fetcher, renderer) and
// the client commands. Each group registers its flags on a FlagSet; every
// flag is also read from MTSFARM_<NAME> by parseFlags.

// natsFlags select the NATS server of a farm.
type natsFlags struct {
	url, creds, tlsCert, tlsKey, tlsCA string
	user, password                     string
}

func (n *natsFlags) register(fs *flag.FlagSet, env *cli) {
	fs.StringVar(&n.url, "nats-url", env.getenv("NATS_URL"), "NATS server URL(s), comma-separated (default $NATS_URL, else nats://127.0.0.1:4222)")
	fs.StringVar(&n.creds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&n.user, "nats-user", env.getenv("NATS_USER"), "NATS user (default $NATS_USER); its password is read from $NATS_PASSWORD only")
	n.password = env.getenv("NATS_PASSWORD")
	fs.StringVar(&n.tlsCert, "nats-tls-cert", "", "client TLS certificate for NATS")
	fs.StringVar(&n.tlsKey, "nats-tls-key", "", "client TLS key for NATS")
	fs.StringVar(&n.tlsCA, "nats-tls-ca", "", "CA certificate that signed the NATS server's certificate")
}

// connect connects to the farm's NATS.
func (n *natsFlags) connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	return bus.Connect(bus.Config{URL: n.url, Creds: n.creds, User: n.user, Password: n.password, TLSCert: n.tlsCert, TLSKey: n.tlsKey, TLSCA: n.tlsCA, Name: name}, opts...)
}

// storeFlags select the object store: a local directory or S3.
type storeFlags struct {
	dir                    string
	endpoint, access       string
	secret, bucket, region string
	secure, create         bool
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "store-dir", "", "local object store directory (instead of S3)")
	fs.StringVar(&s.endpoint, "s3-endpoint", "", "S3/MinIO endpoint host:port or http(s)://host:port")
	fs.StringVar(&s.access, "s3-access-key", "", "S3 access key")
	fs.StringVar(&s.secret, "s3-secret-key", "", "S3 secret key")
	fs.StringVar(&s.bucket, "s3-bucket", "mtsfarm", "S3 bucket")
	fs.StringVar(&s.region, "s3-region", "", "S3 region (optional)")
	fs.BoolVar(&s.secure, "s3-secure", false, "use HTTPS for S3")
	fs.BoolVar(&s.create, "s3-create-bucket", true, "create the bucket when it does not exist")
}

func (s *storeFlags) config() blob.Config {
	c := blob.Config{Dir: s.dir}
	if s.endpoint != "" {
		c.S3 = blob.S3Config{Endpoint: s.endpoint, AccessKey: s.access, SecretKey: s.secret, Bucket: s.bucket,
			Region: s.region, Secure: s.secure, CreateBucket: s.create}
	}
	return c
}

func (s *storeFlags) open(ctx context.Context) (blob.Store, error) {
	st, err := blob.Open(ctx, s.config())
	if err != nil {
		return nil, fmt.Errorf("%w (set --store-dir or --s3-endpoint with its keys)", err)
	}
	return st, nil
}

// roleFlags are the flags of every farm role (coordinator, fetcher,
// renderer): NATS, the object store and logging.
type roleFlags struct {
	nats  natsFlags
	store storeFlags
	log   logFlags
	ops   opsFlags
}

func (r *roleFlags) register(fs *flag.FlagSet, env *cli) {
	r.nats.register(fs, env)
	r.store.register(fs)
	r.log.register(fs)
	r.ops.registerGrace(fs)
}

// parse parses a role's command line, which takes no arguments, and returns
// the role's logger.
func (r *roleFlags) parse(env *cli, fs *flag.FlagSet, args []string) (zerolog.Logger, error) {
	if err := parseFlags(env, fs, args); err != nil {
		return zerolog.Nop(), err
	}
	if fs.NArg() > 0 {
		return zerolog.Nop(), fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	log, _ := r.log.logger(env.stderr)
	return log, nil
}

// connect opens the object store, then connects to NATS as name. The
// caller drains the connection.
func (r *roleFlags) connect(ctx context.Context, name string) (blob.Store, *nats.Conn, error) {
	store, err := r.store.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	nc, err := r.nats.connect(name)
	if err != nil {
		return nil, nil, err
	}
	return store, nc, nil
}

// runWorker runs a fetcher or renderer named name: it opens the store,
// connects to NATS, checks that a coordinator provisioned the role's stream,
// serves --http and calls run, then drains the connection.
func (r *roleFlags) runWorker(ctx context.Context, env *cli, role, name, stream string, m *ops.Metrics, log zerolog.Logger,
	run func(jetstream.JetStream, blob.Store) error) error {
	store, nc, err := r.connect(ctx, name)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, 10*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, stream); err != nil {
		return fmt.Errorf("the farm's streams are missing (%w): start a coordinator first, it provisions them", err)
	}
	m.Registry().MustRegister(ops.NewQueueDepth(js, map[string]string{stream: consumerOf(stream)}))
	if err := r.ops.serve(ctx, env, role, m, nc, store, log); err != nil {
		return err
	}
	return run(js, store)
}

// stringList is a repeatable string flag (also comma-separated).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// defaultDataDir is where `mtsfarm run` keeps its JetStream store and local
// object store: the user's cache dir.
func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mtsfarm")
	}
	return filepath.Join(os.TempDir(), "mtsfarm")
}

// workerID is the default worker id of a role on this host.
func workerID(role string) string {
	h, _ := os.Hostname()
	return proto.DefaultWorkerID(role, h)
}

// consumerOf is a work stream's consumer base name.
func consumerOf(stream string) string { return ops.FarmQueues[stream] }
