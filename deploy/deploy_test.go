// Package deploy_test checks the structure of the shipped deploy files
// (compose.yaml, deploy/k8s, deploy/nats, deploy/minio), since no container
// engine or Kubernetes runs on the build machines: every farm role has
// health checks and its own NATS and S3 user with secrets only from the
// environment, the GPU renderer asks for a GPU, KEDA scales on the render
// consumers the code really has, the copies of auth.conf and the MinIO
// policies in the manifests are verbatim, and the NATS configs load in a
// real nats-server's parser. scripts/e2e-farm.sh runs the same files live.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/mtsfarm/mtsfarm/internal/ops"
	"github.com/mtsfarm/mtsfarm/proto"
)

// roles maps each farm service (compose) or Deployment (k8s) to its role.
var roles = map[string]string{
	"coordinator": "coordinator", "fetcher": "fetcher",
	"renderer": "renderer", "renderer-gpu": "renderer", "renderer-cpu": "renderer",
}

var userRoles = []string{"coordinator", "fetcher", "renderer", "client"}

// secretWords must not appear in a command line, an entrypoint or a
// health check of any shipped service.
var secretWords = regexp.MustCompile(`(?i)password|secret|change-me|\$\{|\$\(`)

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// get walks a decoded YAML tree by map keys and list indexes ("0").
func get(v any, path ...string) any {
	for _, p := range path {
		switch n := v.(type) {
		case map[string]any:
			v = n[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(n) {
				return nil
			}
			v = n[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	var out []string
	switch n := v.(type) {
	case []any:
		for _, e := range n {
			out = append(out, str(e))
		}
	case string:
		out = append(out, n)
	}
	return out
}

func seconds(t *testing.T, what, s string) float64 {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %q is not a duration: %v", what, s, err)
	}
	return d.Seconds()
}

func TestCompose(t *testing.T) {
	doc := readYAML(t, "../compose.yaml")[0]
	services, _ := doc["services"].(map[string]any)
	for name, role := range roles {
		if name == "renderer-cpu" {
			continue // compose's CPU renderer is "renderer"
		}
		svc, ok := services[name].(map[string]any)
		if !ok {
			t.Errorf("compose.yaml has no service %s", name)
			continue
		}
		env, _ := svc["environment"].(map[string]any)
		R := strings.ToUpper(role)
		want := map[string]string{
			"NATS_USER": role, "MTSFARM_S3_ACCESS_KEY": "mtsfarm-" + role,
			"NATS_PASSWORD": "${NATS_" + R + "_PASSWORD:-", "MTSFARM_S3_SECRET_KEY": "${S3_" + R + "_SECRET_KEY:-",
		}
		for k, w := range want {
			if got := str(env[k]); !(got == w || strings.HasSuffix(w, ":-") && strings.HasPrefix(got, w)) {
				t.Errorf("compose.yaml %s: %s is %q, want %q…", name, k, got, w)
			}
		}
		if len(strs(get(svc, "healthcheck", "test"))) < 2 {
			t.Errorf("compose.yaml %s has no health check", name)
		}
		grace, drain := str(svc["stop_grace_period"]), str(env["MTSFARM_DRAIN_GRACE"])
		if grace == "" || drain == "" || seconds(t, name, grace) <= seconds(t, name, drain) {
			t.Errorf("compose.yaml %s: stop_grace_period %q must outlast MTSFARM_DRAIN_GRACE %q", name, grace, drain)
		}
		if str(env["MTSFARM_HTTP"]) == "" {
			t.Errorf("compose.yaml %s serves no /metrics (MTSFARM_HTTP)", name)
		}
	}
	if p := strs(get(services, "renderer", "profiles")); len(p) != 0 {
		t.Errorf("compose.yaml: the CPU renderer has profiles %v; it should start by default", p)
	}
	gpu := services["renderer-gpu"]
	if !slices.Contains(strs(get(gpu, "profiles")), "gpu") {
		t.Error("compose.yaml: renderer-gpu is not in profile gpu")
	}
	if caps := strs(get(gpu, "deploy", "resources", "reservations", "devices", "0", "capabilities")); !slices.Contains(caps, "gpu") {
		t.Errorf("compose.yaml: renderer-gpu reserves devices with capabilities %v, want gpu", caps)
	}
	if enc := str(get(gpu, "environment", "MTSFARM_ENCODER")); enc != "h264_nvenc" {
		t.Errorf("compose.yaml: renderer-gpu encoder %q, want h264_nvenc", enc)
	}
	if c := str(get(services, "coordinator", "depends_on", "minio-setup", "condition")); c != "service_completed_successfully" {
		t.Errorf("compose.yaml: the coordinator starts on minio-setup %q, want service_completed_successfully", c)
	}
	for _, r := range userRoles {
		R := strings.ToUpper(r)
		if v := str(get(services, "nats", "environment", "NATS_"+R+"_PASSWORD")); !strings.HasPrefix(v, "${NATS_"+R+"_PASSWORD") {
			t.Errorf("compose.yaml: nats gets NATS_%s_PASSWORD %q, want it from the environment", R, v)
		}
		if v := str(get(services, "minio-setup", "environment", "S3_"+R+"_SECRET_KEY")); !strings.HasPrefix(v, "${S3_"+R+"_SECRET_KEY") {
			t.Errorf("compose.yaml: minio-setup gets S3_%s_SECRET_KEY %q, want it from the environment", R, v)
		}
	}
	if cmd := strings.Join(strs(get(services, "nats", "command")), " "); cmd != "--config /etc/nats/single.conf" {
		t.Errorf("compose.yaml: nats runs %q, want --config /etc/nats/single.conf (with the users)", cmd)
	}
	// No secret on a command line.
	for name, svc := range services {
		for _, field := range [][]string{{"command"}, {"entrypoint"}, {"healthcheck", "test"}} {
			for _, arg := range strs(get(svc, field...)) {
				if secretWords.MatchString(arg) {
					t.Errorf("compose.yaml %s %s has %q: secrets go in the environment", name, field[0], arg)
				}
			}
		}
	}
}

// k8sObjects reads every manifest of deploy/k8s and deploy/k8s/keda.
func k8sObjects(t *testing.T) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	files, _ := filepath.Glob("k8s/*.yaml")
	keda, _ := filepath.Glob("k8s/keda/*.yaml")
	for _, f := range append(files, keda...) {
		for _, d := range readYAML(t, f) {
			kind, name := str(d["kind"]), str(get(d, "metadata", "name"))
			objs[kind+"/"+name] = d
		}
	}
	return objs
}

// TestKustomizations: every resource a kustomization lists exists.
func TestKustomizations(t *testing.T) {
	for _, dir := range []string{"k8s", "k8s/keda"} {
		k := readYAML(t, filepath.Join(dir, "kustomization.yaml"))[0]
		res := strs(k["resources"])
		if len(res) == 0 {
			t.Errorf("%s/kustomization.yaml lists no resources", dir)
		}
		for _, r := range res {
			if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
				t.Errorf("%s/kustomization.yaml: %v", dir, err)
			}
		}
	}
}

func envOf(c any) map[string]any {
	out := map[string]any{}
	for _, e := range get(c, "env").([]any) {
		out[str(get(e, "name"))] = e
	}
	return out
}

func TestK8sRoles(t *testing.T) {
	objs := k8sObjects(t)
	secrets := map[string]map[string]any{}
	for key, o := range objs {
		if strings.HasPrefix(key, "Secret/") {
			secrets[strings.TrimPrefix(key, "Secret/")], _ = o["stringData"].(map[string]any)
		}
	}
	secretRef := func(what string, e any, name, key string) {
		t.Helper()
		ref := get(e, "valueFrom", "secretKeyRef")
		if str(get(ref, "name")) != name || str(get(ref, "key")) != key {
			t.Errorf("%s: from %v, want secret %s key %s", what, ref, name, key)
		}
		if _, ok := secrets[name][key]; !ok {
			t.Errorf("%s: secret %s has no key %s", what, name, key)
		}
	}
	for name, role := range roles {
		if name == "renderer" {
			continue // k8s has renderer-cpu and renderer-gpu
		}
		d, ok := objs["Deployment/"+name]
		if !ok {
			t.Errorf("deploy/k8s has no Deployment %s", name)
			continue
		}
		spec := get(d, "spec", "template", "spec")
		c := get(spec, "containers", "0")
		if p := str(get(c, "livenessProbe", "httpGet", "path")); p != "/healthz" {
			t.Errorf("%s: liveness probe %q, want /healthz", name, p)
		}
		if p := str(get(c, "readinessProbe", "httpGet", "path")); p != "/readyz" {
			t.Errorf("%s: readiness probe %q, want /readyz", name, p)
		}
		env := envOf(c)
		R := strings.ToUpper(role)
		if u := str(get(env["NATS_USER"], "value")); u != role {
			t.Errorf("%s: NATS_USER %q, want %s", name, u, role)
		}
		secretRef(name+" NATS_PASSWORD", env["NATS_PASSWORD"], "mtsfarm-nats", role)
		secretRef(name+" MTSFARM_S3_ACCESS_KEY", env["MTSFARM_S3_ACCESS_KEY"], "mtsfarm-s3", "S3_"+R+"_ACCESS_KEY")
		secretRef(name+" MTSFARM_S3_SECRET_KEY", env["MTSFARM_S3_SECRET_KEY"], "mtsfarm-s3", "S3_"+R+"_SECRET_KEY")
		grace, _ := get(spec, "terminationGracePeriodSeconds").(int)
		drain := str(get(env["MTSFARM_DRAIN_GRACE"], "value"))
		if drain == "" || float64(grace) <= seconds(t, name, drain) {
			t.Errorf("%s: terminationGracePeriodSeconds %d must outlast MTSFARM_DRAIN_GRACE %q", name, grace, drain)
		}
		for _, from := range get(c, "envFrom").([]any) {
			if ref := str(get(from, "secretRef", "name")); ref != "" {
				t.Errorf("%s takes all of secret %s: a role reads only its own keys", name, ref)
			}
		}
		for _, ic := range append(slices.Clone(get(spec, "containers").([]any)), asList(get(spec, "initContainers"))...) {
			for _, arg := range append(strs(get(ic, "command")), strs(get(ic, "args"))...) {
				if secretWords.MatchString(arg) {
					t.Errorf("%s runs %q: secrets go in the environment", name, arg)
				}
			}
		}
		if name == "renderer-gpu" {
			if n, _ := get(c, "resources", "limits", "nvidia.com/gpu").(int); n < 1 {
				t.Errorf("renderer-gpu asks for %v nvidia.com/gpu, want 1", get(c, "resources", "limits"))
			}
		}
	}
	nats := get(objs["StatefulSet/nats"], "spec", "template", "spec", "containers", "0")
	env := envOf(nats)
	for _, r := range userRoles {
		secretRef("nats NATS_"+strings.ToUpper(r)+"_PASSWORD", env["NATS_"+strings.ToUpper(r)+"_PASSWORD"], "mtsfarm-nats", r)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestKEDAScalesOnTheRenderConsumers: one nats-jetstream trigger per lane's
// render consumer (the names the code provisions), on the headless service
// that names each node, for Deployments that exist.
func TestKEDAScalesOnTheRenderConsumers(t *testing.T) {
	objs := k8sObjects(t)
	var want []string
	for _, l := range proto.Lanes {
		want = append(want, l.Consumer(proto.ConsumerRenderers))
	}
	slices.Sort(want)
	found := 0
	for key, o := range objs {
		if !strings.HasPrefix(key, "ScaledObject/") {
			continue
		}
		found++
		target := str(get(o, "spec", "scaleTargetRef", "name"))
		if roles[target] != "renderer" {
			t.Errorf("%s scales %q, not a renderer Deployment", key, target)
		}
		if _, ok := objs["Deployment/"+target]; !ok {
			t.Errorf("%s scales Deployment %s, which deploy/k8s does not have", key, target)
		}
		var got []string
		for _, tr := range asList(get(o, "spec", "triggers")) {
			if ty := str(get(tr, "type")); ty != "nats-jetstream" {
				t.Errorf("%s: trigger %q, want nats-jetstream", key, ty)
			}
			if s := str(get(tr, "metadata", "stream")); s != proto.StreamRender {
				t.Errorf("%s: stream %q, want %s", key, s, proto.StreamRender)
			}
			if ep := str(get(tr, "metadata", "natsServerMonitoringEndpoint")); !strings.HasPrefix(ep, "nats-headless.") || !strings.HasSuffix(ep, ":8222") {
				t.Errorf("%s: endpoint %q, want the headless service's monitoring port (nats-headless.…:8222)", key, ep)
			}
			got = append(got, str(get(tr, "metadata", "consumer")))
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: triggers on consumers %v, want %v", key, got, want)
		}
	}
	if found < 2 {
		t.Errorf("deploy/k8s/keda has %d ScaledObjects, want the GPU and the CPU renderers'", found)
	}
	if _, ok := objs["Service/nats-headless"]; !ok {
		t.Error("deploy/k8s has no Service nats-headless for KEDA and the routes")
	}
}

// TestVerbatimCopies: the manifests' inline copies are the files.
func TestVerbatimCopies(t *testing.T) {
	objs := k8sObjects(t)
	check := func(cm, key, file string) {
		t.Helper()
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := str(get(objs["ConfigMap/"+cm], "data", key)); got != string(want) {
			t.Errorf("ConfigMap %s's %s is not %s verbatim: run scripts/sync-deploy-copies.sh", cm, key, file)
		}
	}
	check("nats-config", "auth.conf", "nats/auth.conf")
	for _, f := range []string{"setup.sh", "coordinator.json", "fetcher.json", "renderer.json", "client.json"} {
		check("minio-setup", f, "minio/"+f)
	}
}

func setPasswords(t *testing.T) {
	for _, r := range userRoles {
		t.Setenv("NATS_"+strings.ToUpper(r)+"_PASSWORD", "pw-"+r)
	}
}

// TestNATSConfigsLoad: each shipped NATS config (single node, cluster node,
// the k8s ConfigMap) loads in nats-server with JetStream and the four users.
func TestNATSConfigsLoad(t *testing.T) {
	setPasswords(t)
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	t.Setenv("POD_NAME", "nats-0")
	k8s := t.TempDir()
	objs := k8sObjects(t)
	for _, f := range []string{"nats.conf", "auth.conf"} {
		if err := os.WriteFile(filepath.Join(k8s, f), []byte(str(get(objs["ConfigMap/nats-config"], "data", f))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for file, routes := range map[string]int{"nats/single.conf": 0, "nats/nats.conf": 3, filepath.Join(k8s, "nats.conf"): 3} {
		o, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if !o.JetStream || len(o.Routes) != routes {
			t.Errorf("%s: JetStream %v, %d routes; want JetStream and %d", file, o.JetStream, len(o.Routes), routes)
		}
		var users []string
		for _, u := range o.Users {
			users = append(users, u.Username)
			if u.Password != "pw-"+u.Username {
				t.Errorf("%s: user %s's password is not from NATS_%s_PASSWORD", file, u.Username, strings.ToUpper(u.Username))
			}
		}
		slices.Sort(users)
		if want := slices.Sorted(slices.Values(userRoles)); !reflect.DeepEqual(users, want) {
			t.Errorf("%s: users %v, want %v", file, users, want)
		}
		if o.MaxPayload < 8<<20 {
			t.Errorf("%s: max_payload %d, want 8MB", file, o.MaxPayload)
		}
	}
}

// TestHelmValuesHaveTheUsers: the Helm values' users and permissions are
// auth.conf's, with each password the same environment variable.
func TestHelmValuesHaveTheUsers(t *testing.T) {
	for _, r := range userRoles {
		t.Setenv("NATS_"+strings.ToUpper(r)+"_PASSWORD", "PW_"+strings.ToUpper(r))
	}
	m, err := conf.ParseFile("nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := normalize(t, get(m, "authorization", "users"))
	vals := readYAML(t, "k8s/helm/nats-values.yaml")[0]
	users := asList(get(vals, "config", "merge", "authorization", "users"))
	for _, u := range users {
		if um, ok := u.(map[string]any); ok {
			pw := str(um["password"])
			if re := regexp.MustCompile(`^<< \$NATS_([A-Z]+)_PASSWORD >>$`); re.MatchString(pw) {
				um["password"] = "PW_" + re.FindStringSubmatch(pw)[1]
			}
		}
	}
	if got := normalize(t, users); !reflect.DeepEqual(got, want) {
		t.Errorf("deploy/k8s/helm/nats-values.yaml's users differ from deploy/nats/auth.conf:\n got %v\nwant %v", got, want)
	}
	if get(vals, "config", "cluster", "replicas") != 3 || get(vals, "config", "jetstream", "enabled") != true {
		t.Error("nats-values.yaml: want a 3-node cluster with JetStream")
	}
	for _, r := range userRoles {
		e := "NATS_" + strings.ToUpper(r) + "_PASSWORD"
		if k := str(get(vals, "container", "env", e, "valueFrom", "secretKeyRef", "key")); k != r {
			t.Errorf("nats-values.yaml: %s from secret key %q, want %s", e, k, r)
		}
	}
}

func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type policy struct {
	Version   string
	Statement []struct {
		Sid      string
		Effect   string
		Action   []string
		Resource []string
	}
}

// allows reports whether p allows action on the ARN of key (key "" is the
// bucket itself).
func (p policy) allows(action, key string) bool {
	arn := "arn:aws:s3:::mtsfarm"
	if key != "" {
		arn += "/" + key
	}
	for _, s := range p.Statement {
		if s.Effect != "Allow" || !slices.Contains(s.Action, action) {
			continue
		}
		for _, r := range s.Resource {
			if wildcard(r, arn) {
				return true
			}
		}
	}
	return false
}

// wildcard matches IAM resource patterns: * is any run of characters, "/"
// included.
func wildcard(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// TestS3PoliciesFitTheRoles: each role's policy allows the keys that role
// writes and reads, and no other role's writes; outputs/ are the
// coordinator's alone.
func TestS3PoliciesFitTheRoles(t *testing.T) {
	pol := map[string]policy{}
	for _, r := range userRoles {
		raw, err := os.ReadFile("minio/" + r + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var p policy
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("minio/%s.json: %v", r, err)
		}
		if p.Version != "2012-10-17" || len(p.Statement) == 0 {
			t.Errorf("minio/%s.json: version %q, %d statements", r, p.Version, len(p.Statement))
		}
		pol[r] = p
	}
	media := proto.MediaKey("https://example.org/chunk.mp4", "mp4")
	writes := map[string][]string{
		"fetcher":     {media, proto.ProbeKey(media), proto.SlideKey("https://example.org/s.png", "png"), proto.FlowKey("j1")},
		"renderer":    {proto.UnitVideoKey("j1", 0, 1), proto.UnitAudioKey("j1", 0, 1)},
		"coordinator": {proto.OutputKey("A lecture"), proto.PlanKey("j1")},
	}
	reads := map[string][]string{
		"fetcher":     {media, proto.ProbeKey(media), ops.StoreProbeKey},
		"renderer":    {media, proto.SlideKey("https://example.org/s.png", "png"), proto.UnitVideoKey("j1", 0, 1), ops.StoreProbeKey},
		"coordinator": {proto.UnitAudioKey("j1", 0, 1), proto.FlowKey("j1"), ops.StoreProbeKey},
		"client":      {proto.OutputKey("A lecture")},
	}
	for _, r := range userRoles {
		p := pol[r]
		if !p.allows("s3:ListBucket", "") {
			t.Errorf("%s's policy does not allow s3:ListBucket: its bucket check and 404s need it", r)
		}
		for _, k := range writes[r] {
			if !p.allows("s3:PutObject", k) {
				t.Errorf("%s's policy does not let it write %s", r, k)
			}
		}
		for _, k := range reads[r] {
			if !p.allows("s3:GetObject", k) {
				t.Errorf("%s's policy does not let it read %s", r, k)
			}
		}
		for other, keys := range writes {
			if other == r || r == "coordinator" {
				continue
			}
			for _, k := range keys {
				if p.allows("s3:PutObject", k) && !slices.Contains(writes[r], k) {
					t.Errorf("%s's policy lets it write %s (the %s's)", r, k, other)
				}
			}
		}
		if r != "coordinator" && (p.allows("s3:PutObject", proto.OutputKey("x")) || p.allows("s3:DeleteObject", proto.OutputKey("x"))) {
			t.Errorf("%s's policy lets it write or delete outputs/", r)
		}
	}
	if pol["renderer"].allows("s3:GetObject", proto.OutputKey("x")) || pol["fetcher"].allows("s3:GetObject", proto.OutputKey("x")) {
		t.Error("a worker's policy lets it read outputs/")
	}
	for _, k := range []string{media, proto.UnitVideoKey("j1", 0, 1), proto.OutputKey("x")} {
		if pol["client"].allows("s3:PutObject", k) || pol["client"].allows("s3:DeleteObject", k) {
			t.Errorf("the client's policy lets it change %s", k)
		}
	}
}
