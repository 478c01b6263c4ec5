#!/usr/bin/env bash
# The farm of compose.yaml as local processes, without Docker: a 3-node
# nats-server cluster (deploy/nats/nats.conf, R3 streams and KV), a MinIO
# server, two `mtsfarm coordinator` (active-active), two `mtsfarm fetcher`
# and two `mtsfarm renderer` processes, each configured only
# by the environment that compose.yaml gives its service (read from the file,
# with the service host names mapped to local ports), and `mtsfarm fake-mts`
# with a bundled scenario in place of MTS Link.
#
#   1. checks that every MTSFARM_* variable of compose.yaml and deploy/k8s is a
#      flag of the role that gets it (mtsfarm ignores unknown ones silently);
#   2. submits the recording with `nats req mtsfarm.api.submit`, follows it with
#      `mtsfarm watch`, downloads it with `mtsfarm get` and checks the MP4
#      (streams, duration = the recording's ±1 frame, a decode without errors);
#   3. checks what each role's NATS and S3 users may not do (deploy/nats/auth.conf,
#      deploy/minio/*.json, made by deploy/minio/setup.sh), /readyz and /metrics
#      of every role and `nats micro ls` for every role's service;
#   4. submits a course of three recordings (15 s units) and, while it runs,
#      kill -9s the fetcher downloading a (throttled) chunk, kill -9s a NATS
#      node and brings it back, kill -9s a renderer mid-unit (with its ffmpeg)
#      and restarts it, kill -9s the coordinator that is finalizing and
#      restarts it, and stops MinIO for 30 s: every job finishes, the killed
#      unit is rendered again, and each output is the render of the same course
#      submitted again undisturbed (frame PSNR, sound difference); it prints
#      what the faults added to the course's time;
#   5. SIGTERMs a renderer: it drains, exits and leaves the presence KV.
# Everything it started is stopped on exit; its temp dir is removed unless the
# run failed (then the logs stay there).
#
#   scripts/e2e-farm.sh
# Environment: MTSFARM_E2E_SCENARIO (default scripts/scenarios/farm-course.json, 3 recordings),
# MTSFARM_E2E_TIMEOUT (seconds per job, default 600), MTSFARM_E2E_KEEP=1 keeps the
# temp dir.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
. scripts/lib/procs.sh

scenario=${MTSFARM_E2E_SCENARIO:-scripts/scenarios/farm-course.json}
job_timeout=${MTSFARM_E2E_TIMEOUT:-600}
[ -f "$scenario" ] || { log "no scenario file $scenario (MTSFARM_E2E_SCENARIO)"; exit 2; }

fail() {
  log "FAIL: $*"
  exit 1
}

t_all=$(date +%s.%N)
ensure_tools # ffmpeg, minio, the nats CLI
ensure_nats_server
ensure_mc # deploy/minio/setup.sh makes the S3 users with it
log "building mtsfarm"
mtsfarm=$(build_mtsfarm)

dir=$(mktemp -d "${TMPDIR:-/tmp}/mtsfarm-e2e.XXXXXX")
cleanup() {
  local rc=$?
  stop_all 15
  if [ "$rc" -ne 0 ]; then
    for f in "$dir"/*.log; do
      [ -s "$f" ] || continue
      printf '\n--- the end of %s\n' "$f" >&2
      tail -n 8 "$f" >&2
    done
    log "FAILED (exit $rc): logs are in $dir"
  elif [ "${MTSFARM_E2E_KEEP:-}" = 1 ]; then
    log "kept $dir"
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# compose.yaml's environment maps.

# compose_env prints "service<TAB>KEY<TAB>value" for every environment entry
# of every service in compose.yaml, with `<<: *anchor` maps merged in first.
compose_env() {
  awk '
    function indent(s) { match(s, /^ */); return RLENGTH }
    function val(s) {
      sub(/^[^:]*:[ ]*/, "", s)
      if (s ~ /^"/) { sub(/^"/, "", s); sub(/".*$/, "", s); return s }
      if (s ~ /^\047/) { sub(/^\047/, "", s); sub(/\047.*$/, "", s); return s }
      sub(/[ \t]+#.*$/, "", s); sub(/[ \t]+$/, "", s); return s
    }
    function add(svc, k, v) {
      env[svc, k] = v
      if (!((svc, k) in seen)) { seen[svc, k] = 1; order[++no] = svc SUBSEP k }
    }
    /^[ \t]*#/ || /^[ \t]*$/ { next }
    {
      n = indent($0); line = $0; sub(/^ */, "", line)
      if (n == 0) {
        anchor = ""; svc = ""; inenv = 0; insvc = (line ~ /^services:/)
        if (match(line, /&[A-Za-z0-9_-]+/)) anchor = substr(line, RSTART + 1, RLENGTH - 1)
        next
      }
      if (anchor != "" && n == 2 && line ~ /^[A-Za-z_][A-Za-z0-9_]*:/) {
        k = line; sub(/:.*/, "", k); akeys[anchor] = akeys[anchor] " " k; aval[anchor, k] = val(line); next
      }
      if (!insvc) next
      if (n == 2) { svc = line; sub(/:.*/, "", svc); inenv = 0; next }
      if (n == 4) { inenv = (line ~ /^environment:[ ]*$/); next }
      if (inenv && n == 6) {
        if (line ~ /^<<:/) {
          a = line; sub(/^<<:[ ]*\*/, "", a); sub(/[ ].*$/, "", a)
          if (!(a in akeys)) { printf "compose.yaml: service %s merges unknown anchor %s\n", svc, a > "/dev/stderr"; exit 1 }
          m = split(akeys[a], ks, " ")
          for (i = 1; i <= m; i++) add(svc, ks[i], aval[a, ks[i]])
          next
        }
        k = line; sub(/:.*/, "", k); add(svc, k, val(line))
      }
    }
    END { for (i = 1; i <= no; i++) { split(order[i], p, SUBSEP); printf "%s\t%s\t%s\n", p[1], p[2], env[p[1], p[2]] } }
  ' compose.yaml
}

declare -A svc_env svc_keys
envdump=$(compose_env)
while IFS=$'\t' read -r svc key value; do
  svc_env["$svc|$key"]=$value
  svc_keys[$svc]="${svc_keys[$svc]:-} $key"
done <<<"$envdump"

# resolve VALUE: compose's interpolation of a whole-value ${VAR} or
# ${VAR:-default}, from this shell's variables.
resolve() {
  local v=$1
  if [[ $v =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-(.*))?\}$ ]]; then
    local name=${BASH_REMATCH[1]} def=${BASH_REMATCH[3]}
    v=${!name:-$def}
  elif [[ $v == *'$'* ]]; then
    fail "compose.yaml: value $v: only a whole \${VAR} or \${VAR:-default} is understood here"
  fi
  printf '%s' "$v"
}

# flags_of ROLE: the flag names of `mtsfarm ROLE`, space-separated and padded.
flags_of() { printf ' %s ' "$("$mtsfarm" help "$1" | sed -n 's/^  -\([a-z0-9-]*\).*/\1/p' | tr '\n' ' ')"; }

# flag_of KEY: MTSFARM_S3_ENDPOINT → s3-endpoint.
flag_of() { local f=${1#MTSFARM_}; f=${f,,}; printf '%s' "${f//_/-}"; }

t=$(date +%s.%N)
checked=0
all_flags=""
for svc in coordinator fetcher renderer; do
  [ -n "${svc_keys[$svc]:-}" ] || fail "compose.yaml has no environment for service $svc"
  flags=$(flags_of "$svc")
  all_flags+=$flags
  for need in NATS_URL NATS_USER NATS_PASSWORD MTSFARM_S3_ENDPOINT MTSFARM_S3_ACCESS_KEY MTSFARM_S3_SECRET_KEY; do
    [[ " ${svc_keys[$svc]} " == *" $need "* ]] || fail "compose.yaml: service $svc does not set $need"
  done
  for key in ${svc_keys[$svc]}; do
    case $key in
    NATS_URL | NATS_USER | NATS_PASSWORD) continue ;; # the standard variables (also the nats CLI's)
    MTSFARM_*) ;;
    *) fail "compose.yaml: service $svc sets $key, which mtsfarm does not read" ;;
    esac
    [[ $flags == *" $(flag_of "$key") "* ]] || fail "compose.yaml: service $svc sets $key, but mtsfarm $svc has no --$(flag_of "$key")"
    checked=$((checked + 1))
  done
done
# Every MTSFARM_* setting in the Kubernetes manifests (outside comments) is
# a flag of some role
[ -d deploy/k8s ] || fail "deploy/k8s is missing"
# (variable names: env entries' name: and ConfigMap data keys; stream names
# such as MTSFARM_RENDER in the NATS permissions are not settings)
k8s_keys=$(sed 's/#.*//' deploy/k8s/*.yaml | grep -oE '(name: *|^ *)MTSFARM_[A-Z0-9_]+' | grep -oE 'MTSFARM_[A-Z0-9_]+' | sort -u) ||
  fail "deploy/k8s sets no MTSFARM_* variable"
while read -r key; do
  [[ $all_flags == *" $(flag_of "$key") "* ]] || fail "deploy/k8s sets $key, but no farm role has --$(flag_of "$key")"
  checked=$((checked + 1))
done <<<"$k8s_keys"
log "compose.yaml and deploy/k8s: $checked MTSFARM_* settings, each a flag of its role"

# ---------------------------------------------------------------------------
# The farm.

# NATS: a 3-node JetStream cluster on loopback, each node run with
# deploy/nats/nats.conf (the production node config) with its listen,
# monitor and cluster ports and its routes mapped to this machine's ports.
declare -a nats_client nats_mon nats_route nats_pids
for n in 1 2 3; do
  nats_client[n]=$(free_port)
  nats_mon[n]=$(free_port)
  nats_route[n]=$(free_port)
done
nats_url="" # set below, as the client user
nats_conf() { # N: the node's config, from deploy/nats/nats.conf
  sed -e "s|^listen: 0.0.0.0:4222|listen: 127.0.0.1:${nats_client[$1]}|" \
    -e "s|^http: 0.0.0.0:8222|http: 127.0.0.1:${nats_mon[$1]}|" \
    -e "s|store_dir: /data/jetstream|store_dir: $dir/nats-$1|" \
    -e "s|listen: 0.0.0.0:6222|listen: 127.0.0.1:${nats_route[$1]}|" \
    -e "s|nats-route://nats-\([123]\):6222|nats-route://127.0.0.1:NATSROUTE\1|" deploy/nats/nats.conf |
    sed -e "s|NATSROUTE1|${nats_route[1]}|" -e "s|NATSROUTE2|${nats_route[2]}|" -e "s|NATSROUTE3|${nats_route[3]}|" \
      >"$dir/nats-$1.conf"
  cp deploy/nats/auth.conf "$dir/auth.conf" # nats.conf includes it from its own directory
  grep -q "127.0.0.1:${nats_client[$1]}" "$dir/nats-$1.conf" || fail "deploy/nats/nats.conf: no 'listen: 0.0.0.0:4222' to map"
  [ "$(grep -c 'nats-route://127.0.0.1:' "$dir/nats-$1.conf")" = 3 ] || fail "deploy/nats/nats.conf: want 3 routes nats-route://nats-N:6222"
}
# One NATS user per role (deploy/nats/auth.conf) and one S3 user per role
# (deploy/minio/setup.sh): secrets made here, given to each process through
# the environment only, as compose.yaml's ${NATS_…_PASSWORD} and
# ${S3_…_SECRET_KEY} (resolve reads these shell variables).
secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy'; }
declare -A nats_pass
for u in coordinator fetcher renderer client; do nats_pass[$u]=$(secret); done
# shellcheck disable=SC2034 # read by resolve, through ${!name}
{
  NATS_COORDINATOR_PASSWORD=${nats_pass[coordinator]} NATS_FETCHER_PASSWORD=${nats_pass[fetcher]}
  NATS_RENDERER_PASSWORD=${nats_pass[renderer]} NATS_CLIENT_PASSWORD=${nats_pass[client]}
  S3_COORDINATOR_SECRET_KEY=$(secret) S3_FETCHER_SECRET_KEY=$(secret) S3_RENDERER_SECRET_KEY=$(secret)
  S3_CLIENT_SECRET_KEY=$(secret) MINIO_ROOT_PASSWORD=$(secret)
}
nats_urls() { # the cluster's URLs, no credentials
  printf 'nats://127.0.0.1:%s,nats://127.0.0.1:%s,nats://127.0.0.1:%s' "${nats_client[1]}" "${nats_client[2]}" "${nats_client[3]}"
}
nats_url_as() { # USER: the cluster's URLs with USER's credentials
  local pass=${nats_pass[$1]}
  printf 'nats://%s:%s@127.0.0.1:%s,nats://%s:%s@127.0.0.1:%s,nats://%s:%s@127.0.0.1:%s' \
    "$1" "$pass" "${nats_client[1]}" "$1" "$pass" "${nats_client[2]}" "$1" "$pass" "${nats_client[3]}"
}
start_nats() { # N
  start_bg "nats-$1" "$dir/nats-$1.log" env "NATS_SERVER_NAME=nats-$1" \
    "NATS_COORDINATOR_PASSWORD=${nats_pass[coordinator]}" "NATS_FETCHER_PASSWORD=${nats_pass[fetcher]}" \
    "NATS_RENDERER_PASSWORD=${nats_pass[renderer]}" "NATS_CLIENT_PASSWORD=${nats_pass[client]}" \
    nats-server --config "$dir/nats-$1.conf"
  nats_pids[$1]=$bg_pid
}
for n in 1 2 3; do nats_conf "$n"; start_nats "$n"; done
nats_url=$(nats_url_as client)
minio_port=$(free_port)
minio_console=$(free_port)

minio_user=$(resolve "${svc_env[minio|MINIO_ROOT_USER]:-}")
minio_pass=$(resolve "${svc_env[minio|MINIO_ROOT_PASSWORD]:-}")
if [ -z "$minio_user" ] || [ -z "$minio_pass" ]; then
  fail "compose.yaml: the minio service sets no MINIO_ROOT_USER/MINIO_ROOT_PASSWORD"
fi
start_minio() {
  start_bg minio "$dir/minio.log" env -i "PATH=$PATH" "HOME=$HOME" "MINIO_ROOT_USER=$minio_user" \
    "MINIO_ROOT_PASSWORD=$minio_pass" MINIO_BROWSER=off MINIO_UPDATE=off \
    minio server --quiet --address "127.0.0.1:$minio_port" --console-address "127.0.0.1:$minio_console" "$dir/minio-data"
  minio_pid=$bg_pid
}
start_minio

fake_port=$(free_port)
# shellcheck disable=SC2016 # expanded by sh, from its arguments
start_bg fake-mts "$dir/fake-mts.log" sh -c 'exec "$0" fake-mts --scenario "$1" --addr "127.0.0.1:$2" --cache-dir "$3" --log-format json >"$4"' \
  "$mtsfarm" "$scenario" "$fake_port" "$dir/fake-cache" "$dir/fake-mts.urls"
fake_pid=$bg_pid

wait_healthy() { # NAME PID SECONDS PORT PATH
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if http_ok 127.0.0.1 "$4" "$5"; then return 0; fi
    alive "$2" || fail "$1 exited (see $dir/$1.log)"
    sleep 0.1
  done
  fail "$1 is not healthy after $3 s"
}
for n in 1 2 3; do wait_healthy "nats-$n" "${nats_pids[n]}" 60 "${nats_mon[n]}" '/healthz?js-enabled-only=true'; done
# The cluster serves JetStream once it has elected a metadata leader (a
# coordinator started before waits for it, up to 2 minutes; the run starts
# them after, so its timings are the farm's).
for ((i = 0; ; i++)); do
  if "$mtsfarm" probe "http://127.0.0.1:${nats_mon[1]}/jsz" 2>/dev/null | grep -qE '"leader": *"nats-'; then break; fi
  [ "$i" -lt 600 ] || fail "the NATS cluster elected no JetStream leader in 60 s (see $dir/nats-1.log)"
  sleep 0.1
done
wait_healthy minio "$minio_pid" 60 "$minio_port" /minio/health/ready
# compose's minio-setup: deploy/minio/setup.sh with that service's
# environment makes the bucket and one S3 user per role with its policy.
setup_env=()
for key in ${svc_keys[minio-setup]:-}; do
  v=$(resolve "${svc_env[minio-setup|$key]}")
  [ "$key" != MINIO_ENDPOINT ] || v=http://127.0.0.1:$minio_port
  setup_env+=("$key=$v")
done
[ "${#setup_env[@]}" -gt 4 ] || fail "compose.yaml: no environment for service minio-setup"
env -i "PATH=$PATH" "HOME=$dir" "${setup_env[@]}" sh deploy/minio/setup.sh >"$dir/minio-setup.log" 2>&1 ||
  fail "deploy/minio/setup.sh: $(tail -n 3 "$dir/minio-setup.log")"
url=$(wait_line "$dir/fake-mts.urls" '^https?://' 30 "$fake_pid") || fail "fake-mts printed no URL"
# As the compose demo: MTSFARM_MTS_BASE_URL=http://fake-mts:8089 docker compose up
# shellcheck disable=SC2034 # read by resolve, through ${!name}
MTSFARM_MTS_BASE_URL="http://127.0.0.1:$fake_port"

declare -A http_of # process → its --http address

# role_env SERVICE PROC: KEY=VALUE lines of the service's compose environment,
# its host names mapped to this machine's ports and /var/lib/mtsfarm to the
# process's own dir.
role_env() {
  local svc=$1 proc=$2 key v
  for key in ${svc_keys[$svc]}; do
    v=$(resolve "${svc_env[$svc|$key]}")
    [ "$key" != NATS_URL ] || v=$(nats_urls)
    if [ "$key" = NATS_USER ] && [ "$v" != "${svc%-gpu}" ]; then fail "compose.yaml: $svc logs in to NATS as $v, want ${svc%-gpu}"; fi
    if [ "$key" = MTSFARM_S3_ACCESS_KEY ] && [ "$v" != "mtsfarm-${svc%-gpu}" ]; then
      fail "compose.yaml: $svc uses the S3 user $v, want mtsfarm-${svc%-gpu}"
    fi
    # The cluster's streams are R3, as deploy/k8s/coordinator.yaml sets it.
    if [ "$key" = MTSFARM_REPLICAS ]; then v=3; fi
    if [ "$v" = minio:9000 ]; then v=127.0.0.1:$minio_port; fi
    # Every container has its own network; here each process gets a port.
    if [ "$key" = MTSFARM_HTTP ]; then v=${http_of[$proc]:-127.0.0.1:0}; fi
    v=${v//\/var\/lib\/mtsfarm/$dir\/$proc}
    case $v in *nats:4222* | *minio:9000* | *fake-mts:*) fail "compose.yaml: $svc $key=$v: no local mapping for that host" ;; esac
    printf '%s=%s\n' "$key" "$v"
  done
}

# start_role SERVICE PROC: `mtsfarm SERVICE` configured only by the service's
# compose environment. One extra variable: MTSFARM_WORKER_ID, because every
# process here shares one hostname (compose and Kubernetes give each
# container its own, which is the default worker id).
start_role() {
  local svc=$1 proc=$2 envs out
  http_of[$proc]=127.0.0.1:$(free_port)
  out=$(role_env "$svc" "$proc")
  mapfile -t envs <<<"$out"
  mkdir -p "$dir/$proc/work"
  start_bg "$proc" "$dir/$proc.log" env -i "PATH=$PATH" "HOME=$dir/$proc" "TMPDIR=$dir/$proc" \
    "${envs[@]}" "MTSFARM_WORKER_ID=$proc" "$mtsfarm" "$svc"
}

# client: what a user runs against the farm (NATS only; get also the store).
client() { env -i "PATH=$PATH" "HOME=$dir" "NATS_URL=$nats_url" "$@"; }
# client_s3: the same with the client's S3 user, which may only download
# outputs/ (compose.yaml's header: mtsfarm get on the host).
client_s3() {
  env -i "PATH=$PATH" "HOME=$dir" "NATS_URL=$nats_url" "MTSFARM_S3_ENDPOINT=127.0.0.1:$minio_port" \
    "MTSFARM_S3_BUCKET=$(resolve "${svc_env[coordinator|MTSFARM_S3_BUCKET]}")" MTSFARM_S3_ACCESS_KEY=mtsfarm-client \
    "MTSFARM_S3_SECRET_KEY=$S3_CLIENT_SECRET_KEY" "$@"
}

start_role coordinator coordinator-1
coord_pid=$bg_pid
# compose's healthcheck of the coordinator: the job API answers.
for ((i = 0; ; i++)); do
  if client "$mtsfarm" list --limit 1 >/dev/null 2>"$dir/healthcheck.err"; then break; fi
  alive "$coord_pid" || fail "the coordinator exited (see $dir/coordinator-1.log)"
  [ "$i" -lt 300 ] || fail "the coordinator's job API does not answer after 30 s: $(cat "$dir/healthcheck.err")"
  sleep 0.1
done
declare -A pid_of
pid_of[coordinator-1]=$coord_pid
# Two coordinators at once, active-active: every job change is a
# compare-and-set on the job's KV record, and work is shared by consumers.
for p in coordinator-2 fetcher-1 fetcher-2 renderer-1 renderer-2; do
  start_role "${p%-*}" "$p"
  pid_of[$p]=$bg_pid
done
for p in coordinator-2 fetcher-1 fetcher-2 renderer-1 renderer-2; do
  up="${p%-*} started"
  [ "${p%-*}" = coordinator ] && up="coordinator running"
  wait_line "$dir/$p.log" "\"message\":\"$up\"" 60 "${pid_of[$p]}" >/dev/null || fail "$p did not start"
done
for p in coordinator-1 coordinator-2 fetcher-1 fetcher-2 renderer-1 renderer-2; do
  [ -n "${http_of[$p]:-}" ] || fail "compose.yaml gives ${p%-*} no MTSFARM_HTTP"
  for ((i = 0; ; i++)); do
    if "$mtsfarm" probe "http://${http_of[$p]}/readyz" >"$dir/probe.txt" 2>&1; then break; fi
    [ "$i" -lt 100 ] || fail "$p is not ready: $(cat "$dir/probe.txt")"
    sleep 0.1
  done
done
t_farm=$(elapsed "$t")
log "farm up in ${t_farm}s: 3 nats-server nodes :${nats_client[1]},${nats_client[2]},${nats_client[3]} (R3), minio :$minio_port, coordinator-1/2, fetcher-1/2, renderer-1/2, fake MTS Link :$fake_port"

nats() { command nats --server "$nats_url" "$@"; }
nats micro ls >"$dir/micro-ls.txt" 2>&1 || fail "nats micro ls: $(cat "$dir/micro-ls.txt")"
grep -q mtsfarm "$dir/micro-ls.txt" || fail "nats micro ls does not list the mtsfarm service: $(cat "$dir/micro-ls.txt")"
# The role users may do only their role's part: a renderer cannot call the
# job API or take fetch tasks.
out=$(command nats --server "$(nats_url_as renderer)" req --timeout 3s mtsfarm.api.list '{}' 2>&1) || true
grep -q 'Permissions Violation for Publish to "mtsfarm.api.list"' <<<"$out" ||
  fail "the renderer's NATS user could call the job API: $out"
out=$(command nats --server "$(nats_url_as renderer)" consumer next MTSFARM_FETCH fetchers --timeout 3s 2>&1) || true
grep -q 'Permissions Violation' <<<"$out" || fail "the renderer's NATS user could take a fetch task: $out"
log "NATS users per role: the renderer's may not call the job API nor take fetch tasks"
for svc in mtsfarm-coordinator mtsfarm-fetcher mtsfarm-renderer; do
  grep -q "$svc" "$dir/micro-ls.txt" || fail "nats micro ls does not list $svc: $(cat "$dir/micro-ls.txt")"
done

# submit BODY: the job id of `nats req mtsfarm.api.submit BODY`.
submit() {
  local reply id
  reply=$(nats req --raw --timeout 30s mtsfarm.api.submit "$1" 2>&1) || fail "nats req mtsfarm.api.submit $1: $reply"
  id=$(grep -oE '"id": *"[0-9a-z]+"' <<<"$reply" | head -n1 | grep -oE '[0-9a-z]+"$' | tr -d '"') || true
  [ -n "$id" ] || fail "nats req mtsfarm.api.submit $1 answered: $reply"
  printf '%s' "$id"
}

# check_mp4 FILE SECONDS: video and audio present, the duration within one
# frame (40 ms at 25 fps) of SECONDS, a full decode without a single error.
check_mp4() {
  local f=$1 want=$2 summary got errs
  [ -s "$f" ] || fail "$f is missing or empty"
  summary=$(media_summary "$f")
  grep -q 'codec_type=video' <<<"$summary" || fail "$f has no video stream: $summary"
  grep -q 'codec_type=audio' <<<"$summary" || fail "$f has no audio stream: $summary"
  got=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$f")
  awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.041) }' ||
    fail "$f lasts ${got}s, the recording ${want}s"
  errs=$(ffmpeg -nostdin -v error -i "$f" -f null - 2>&1 | head -n 5)
  [ -z "$errs" ] || fail "$f does not decode cleanly: $errs"
}

# job_field JOB KEY: a top-level number or string of `mtsfarm status --json`.
job_field() {
  client "$mtsfarm" status --json "$1" | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n1
}

# ---------------------------------------------------------------------------
# Run 1: submit, watch, get, check.
t=$(date +%s.%N)
job1=$(submit "{\"url\": \"$url\"}")
log "run 1: job $job1 submitted with nats req; mtsfarm watch $job1"
client timeout "$job_timeout" "$mtsfarm" watch "$job1" >"$dir/watch-1.log" 2>&1 ||
  fail "mtsfarm watch $job1: $(tail -n 5 "$dir/watch-1.log")"
t_run1=$(elapsed "$t")
client_s3 "$mtsfarm" get -o "$dir/run1.mp4" "$job1" >/dev/null
dur=$(job_field "$job1" duration)
[ -n "$dur" ] || fail "mtsfarm status --json $job1 has no duration"
check_mp4 "$dir/run1.mp4" "$dur"
size1=$(stat -c %s "$dir/run1.mp4")
log "run 1: done in ${t_run1}s (a ${dur}s recording); mtsfarm get: $size1 bytes; checked"
# The S3 users per role may do only their role's part (deploy/minio/*.json).
bucket=$(resolve "${svc_env[coordinator|MTSFARM_S3_BUCKET]}")
mc_as() { # ROLE ARGS…: mc as the role's S3 user (credentials in the environment)
  local var=S3_${1^^}_SECRET_KEY role=$1
  shift
  env -i "PATH=$PATH" "HOME=$dir" "MC_CONFIG_DIR=$dir/mc" "MC_HOST_s3=http://mtsfarm-$role:${!var}@127.0.0.1:$minio_port" mc "$@"
}
out1=$(mc_as coordinator ls --json "s3/$bucket/outputs/" 2>&1) || fail "the coordinator's S3 user cannot list outputs/: $out1"
okey=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$out1" | head -n 1)
[ -n "$okey" ] || fail "no output under outputs/ after run 1"
denied() { # WHAT ROLE ARGS…
  local what=$1 out
  shift
  if out=$(mc_as "$@" 2>&1 </dev/null); then fail "the $1 S3 user could $what"; fi
  grep -qiE 'access denied|insufficient permissions' <<<"$out" || fail "the $1 S3 user tried to $what: $out"
}
printf 'forged' >"$dir/forged.mp4"
denied "write outputs/" renderer cp "$dir/forged.mp4" "s3/$bucket/outputs/forged.mp4"
denied "write outputs/" fetcher cp "$dir/forged.mp4" "s3/$bucket/outputs/forged.mp4"
denied "write a unit" fetcher cp "$dir/forged.mp4" "s3/$bucket/jobs/$job1/units/00000-g9.mkv"
denied "read an output" renderer cat "s3/$bucket/outputs/$okey"
denied "delete an output" client rm "s3/$bucket/outputs/$okey"
mc_as client cat "s3/$bucket/outputs/$okey" | cmp -s - "$dir/run1.mp4" || fail "the client S3 user cannot download outputs/$okey as it is"
log "S3 users per role: renderer and fetcher may not write outputs/, the fetcher no unit, the renderer read no output, the client only download"
# Prometheus metrics of real work: units rendered, bytes fetched, a finalize.
curl_metrics() { "$mtsfarm" probe "http://${http_of[$1]}/metrics" >"$dir/metrics-$1.txt" || fail "$1 /metrics: $(cat "$dir/metrics-$1.txt")"; }
finals=0
for p in coordinator-1 coordinator-2; do
  curl_metrics "$p"
  n=$(sed -n 's/^mtsfarm_finalize_seconds_count{role="coordinator"} //p' "$dir/metrics-$p.txt")
  finals=$((finals + ${n:-0}))
done
[ "$finals" = 1 ] || fail "the coordinators' /metrics count $finals finalizes, want 1"
grep -q '^mtsfarm_queue_pending{lane="normal",stream="MTSFARM_RENDER"} 0$' "$dir/metrics-coordinator-1.txt" ||
  fail "coordinator-1 /metrics has no render queue depth"
rendered=0
for p in renderer-1 renderer-2; do
  curl_metrics "$p"
  n=$(sed -n 's/^mtsfarm_tasks_total{kind="render",outcome="done",role="renderer"} //p' "$dir/metrics-$p.txt")
  rendered=$((rendered + ${n:-0}))
done
[ "$rendered" -ge 1 ] || fail "no renderer's /metrics counts a rendered unit"
fetched=0
for p in fetcher-1 fetcher-2; do
  curl_metrics "$p"
  grep -q '^mtsfarm_fetch_bytes_total' "$dir/metrics-$p.txt" || fail "$p /metrics has no mtsfarm_fetch_bytes_total"
done
log "run 1: /metrics of every role: $rendered units rendered, a finalize timed, queue depths read"
media_summary "$dir/run1.mp4" | sed 's/^/    /' >&2

# ---------------------------------------------------------------------------
# The operator commands of deploy/README.md work against this farm.
ops() { # FILE ARGS...: nats ARGS, output to $dir/FILE
  local f=$dir/$1
  shift
  nats "$@" >"$f" 2>&1 || fail "nats $*: $(tail -n 5 "$f")"
}
ops micro-info.txt micro info mtsfarm
ops consumer-report.txt consumer report MTSFARM_RENDER
ops stream-report.txt stream report
ops kv-get.txt kv get mtsfarm_jobs "$job1"
ops kv-workers.txt kv ls mtsfarm_workers
grep -q renderer-2 "$dir/kv-workers.txt" || fail "nats kv ls mtsfarm_workers does not list renderer-2: $(cat "$dir/kv-workers.txt")"
ops status.txt req mtsfarm.api.status "{\"job\": \"$job1\"}"
grep -q '"state": *"done"' "$dir/status.txt" || fail "nats req mtsfarm.api.status: $(head -c 300 "$dir/status.txt")"

# ---------------------------------------------------------------------------
# Run 2: a course of three recordings, with faults while it runs (one line
# per fault: what, when, what took over). Every job must finish, and each
# output must be the undisturbed render of its recording.
mapfile -t course_urls < <(grep -E '^https?://' "$dir/fake-mts.urls")
[ "${#course_urls[@]}" -ge 3 ] || fail "$scenario has fewer than 3 recordings for the course run"
t3=$(date +%s.%N)
fault() { log "fault at +$(elapsed "$t3")s: $*"; }
# (the script tests itself as it goes: bash -n finds only syntax errors)
body="{\"urls\": [\"${course_urls[0]}\", \"${course_urls[1]}\", \"${course_urls[2]}\"], \"course\": \"Chaos\", \"force\": true, \"unit_seconds\": 15}"
reply=$(nats req --raw --timeout 30s mtsfarm.api.submit "$body" 2>&1) || fail "nats req mtsfarm.api.submit (course): $reply"
mapfile -t course_jobs < <(grep -oE '"id": *"[0-9a-z]+"' <<<"$reply" | grep -oE '[0-9a-z]+"$' | tr -d '"')
[ "${#course_jobs[@]}" = 3 ] || fail "the course submit answered: $reply"
log "run 2: course of 3 submitted with nats req: ${course_jobs[*]}"

# status PROC: the live status of a role instance (its micro endpoint).
status() { nats req --raw --timeout 2s "mtsfarm.workers.$1.status" '' 2>/dev/null || true; }
restart() { # PROC: start it again as its supervisor would
  start_role "${1%-*}" "$1"
  pid_of[$1]=$bg_pid
}

# busy SECONDS PATTERN PROC...: the first PROC whose live status matches
# PATTERN, polled every 0.1 s for up to SECONDS (empty when none did).
busy() {
  local secs=$1 re=$2 i p
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    for p in "$@"; do
      if status "$p" | grep -qE "$re"; then
        printf '%s' "$p"
        return 0
      fi
    done
    sleep 0.1
  done
}

# 1. kill -9 the fetcher downloading recording 3's (throttled) first chunk.
victim=$(busy 60 "\"${course_jobs[2]}/media/" fetcher-1 fetcher-2)
[ -n "$victim" ] || fail "no fetcher was seen downloading recording 3's media"
kill -KILL -- "-${pid_of[$victim]}"
fault "kill -9 $victim mid-download of job ${course_jobs[2]}'s media"
restart "$victim"

# 2. kill -9 one NATS node (of three; the streams are R3) and bring it back.
kill -KILL -- "-${nats_pids[2]}"
fault "kill -9 nats-2 (the clients on it reconnect to nats-1/nats-3)"
sleep 5
start_nats 2
wait_healthy nats-2 "${nats_pids[2]}" 60 "${nats_mon[2]}" '/healthz?js-enabled-only=true'
fault "nats-2 restarted on its store and caught up (healthy, JetStream current)"

# 3. kill -9 a renderer while it renders a unit of the course (with its
# ffmpeg: the whole process group), and restart it.
victim=$(busy 120 '"in_flight": *[1-9]' renderer-1 renderer-2)
[ -n "$victim" ] || fail "no renderer was seen rendering a unit of the course"
disown "${pid_of[$victim]}" 2>/dev/null || true # no "Killed" notice from bash
kill -KILL -- "-${pid_of[$victim]}"
rline=$(grep '"message":"rendering unit"' "$dir/$victim.log" | tail -n 1)
killed_job=$(sed -n 's/.*"job_id":"\([0-9a-z]*\)".*/\1/p' <<<"$rline")
killed_unit=$(sed -n 's/.*"unit":\([0-9]*\).*/\1/p' <<<"$rline")
[ -n "$killed_job" ] && [ -n "$killed_unit" ] || fail "$victim was busy but logged no unit it was rendering"
cp "$dir/$victim.log" "$dir/$victim-killed.log" # restart truncates its log
fault "kill -9 $victim (with its ffmpeg) mid-unit: unit $killed_unit of job $killed_job"
restart "$victim"
killed_renderer=$victim

# 4. kill -9 a coordinator while it finalizes a job, and restart it.
victim=$(busy 300 '"in_flight": *[1-9]' coordinator-1 coordinator-2)
[ -n "$victim" ] || fail "no coordinator was seen finalizing within 300 s"
kill -KILL -- "-${pid_of[$victim]}"
fin_job="" # the jobs left finalizing (the dead coordinator's, or also the other's)
for j in "${course_jobs[@]}"; do [ "$(job_field "$j" state)" != finalizing ] || fin_job+="${fin_job:+ }$j"; done
fault "kill -9 $victim mid-finalize${fin_job:+ (jobs finalizing: $fin_job)}"
restart "$victim"
killed_coord=$victim

# 5. MinIO down for 30 s, then back on its data.
kill -KILL -- "-$minio_pid"
fault "MinIO stopped (kill -9) for 30 s"
sleep 30
start_minio
wait_healthy minio "$minio_pid" 60 "$minio_port" /minio/health/ready
fault "MinIO back"

for j in "${course_jobs[@]}"; do
  client timeout "$job_timeout" "$mtsfarm" watch "$j" >"$dir/watch-$j.log" 2>&1 ||
    fail "mtsfarm watch $j (course run): $(tail -n 5 "$dir/watch-$j.log")"
done
t_run3=$(elapsed "$t3")
log "run 2: all 3 jobs done in ${t_run3}s despite the faults"
unit_re="\"job_id\":\"$killed_job\".*\"unit\":$killed_unit,.*\"message\":\"unit rendered\""
if grep -E "$unit_re" "$dir/$killed_renderer-killed.log" >/dev/null; then
  fail "$killed_renderer finished unit $killed_unit before it was killed: the kill came too late to test anything"
fi
for p in renderer-1 renderer-2; do
  if grep -E "$unit_re" "$dir/$p.log" >/dev/null; then
    again=$p
    [ "$p" != "$killed_renderer" ] || again="$p (restarted)"
    log "    unit $killed_unit that $killed_renderer dropped was rendered again by $again"
    killed_unit=done
  fi
done
[ "$killed_unit" = done ] || fail "no renderer rendered unit $killed_unit of $killed_job again after $killed_renderer died"
for p in coordinator-1 coordinator-2; do
  if grep -q '"message":"job finalized"' "$dir/$p.log" && [ "$p" != "$killed_coord" ]; then
    log "    the finalize $killed_coord dropped was taken over: $p finalized $(grep -c '"message":"job finalized"' "$dir/$p.log") jobs"
  fi
done

# The undisturbed run: the same course again (same settings), timed.
t=$(date +%s.%N)
reply=$(nats req --raw --timeout 30s mtsfarm.api.submit "$body" 2>&1) || fail "nats req mtsfarm.api.submit (undisturbed course): $reply"
mapfile -t ref_jobs < <(grep -oE '"id": *"[0-9a-z]+"' <<<"$reply" | grep -oE '[0-9a-z]+"$' | tr -d '"')
[ "${#ref_jobs[@]}" = 3 ] || fail "the undisturbed course submit answered: $reply"
for j in "${ref_jobs[@]}"; do
  client timeout "$job_timeout" "$mtsfarm" watch "$j" >"$dir/watch-$j.log" 2>&1 || fail "mtsfarm watch $j (undisturbed course)"
done
t_clean=$(elapsed "$t")
refs=()
for j in "${ref_jobs[@]}"; do
  client_s3 "$mtsfarm" get -o "$dir/ref-$j.mp4" "$j" >/dev/null
  refs+=("$dir/ref-$j.mp4")
done
log "run 2: the same course undisturbed took ${t_clean}s: the five faults added $(awk -v a="$t_run3" -v b="$t_clean" 'BEGIN { printf "%.1f", a - b }')s"

# same_as REF FILE: FILE's picture and sound are REF's: the lowest frame PSNR
# at least 35 dB, the sound's difference at least 40 dB below the sound.
same_as() {
  local psnr diff level
  psnr=$(ffmpeg -nostdin -hide_banner -i "$1" -i "$2" -lavfi '[0:v][1:v]psnr' -f null - 2>&1 | grep -oE 'min:([0-9.]+|inf)' | tail -n1 | cut -d: -f2)
  [ -n "$psnr" ] || fail "comparing $2 with $1: ffmpeg printed no PSNR"
  [ "$psnr" = inf ] || awk -v p="$psnr" 'BEGIN { exit !(p >= 35) }' || fail "$2 is not the undisturbed render $1: a frame at ${psnr} dB PSNR"
  diff=$(ffmpeg -nostdin -hide_banner -i "$1" -i "$2" -filter_complex \
    '[0:a]aformat=channel_layouts=mono[a];[1:a]aformat=channel_layouts=mono[b];[a][b]amerge=inputs=2,pan=mono|c0=c0-c1,astats=measure_overall=RMS_level:measure_perchannel=none' \
    -f null - 2>&1 | grep -oE 'RMS level dB: [-0-9.inf]+' | tail -n1 | awk '{ print $4 }')
  level=$(ffmpeg -nostdin -hide_banner -i "$1" -af astats=measure_overall=RMS_level:measure_perchannel=none -f null - 2>&1 |
    grep -oE 'RMS level dB: [-0-9.inf]+' | tail -n1 | awk '{ print $4 }')
  [ -n "$diff" ] && [ -n "$level" ] || fail "comparing the sound of $2 with $1: no levels"
  [ "$diff" = -inf ] || awk -v d="$diff" -v l="$level" 'BEGIN { exit !(d <= l - 40) }' ||
    fail "$2's sound differs from the undisturbed $1: difference ${diff} dB against ${level} dB"
  printf 'min PSNR %s dB, sound difference %s dB (sound %s dB)' "$psnr" "$diff" "$level"
}
# job_secs JOB: seconds from the job's creation to its end.
job_secs() {
  local c f
  c=$(job_field "$1" created)
  f=$(job_field "$1" finished)
  [ -n "$c" ] && [ -n "$f" ] || fail "mtsfarm status --json $1 has no created/finished time"
  awk -v a="$(date -d "$c" +%s.%N)" -v b="$(date -d "$f" +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
for i in 0 1 2; do
  j=${course_jobs[i]}
  client_s3 "$mtsfarm" get -o "$dir/course-$j.mp4" "$j" >/dev/null
  check_mp4 "$dir/course-$j.mp4" "$dur"
  log "    course job $j: $(same_as "${refs[i]}" "$dir/course-$j.mp4")"
  hit=""
  [ "$j" != "${course_jobs[2]}" ] || hit+="${hit:+, }the fetcher kill"
  [ "$j" != "$killed_job" ] || hit+="${hit:+, }the renderer kill"
  [[ " $fin_job " != *" $j "* ]] || hit+="${hit:+, }the coordinator kill"
  a=$(job_secs "$j")
  b=$(job_secs "${ref_jobs[i]}")
  log "    course job $j took ${a}s, undisturbed ${b}s: +$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", a - b }')s, from ${hit:-no fault of its own} (and the NATS node and MinIO outages all shared)"
done
nats stream info MTSFARM_RENDER --json >"$dir/render-stream.json" 2>&1 || fail "nats stream info: $(cat "$dir/render-stream.json")"
grep -qE '"num_replicas": *3' "$dir/render-stream.json" || fail "MTSFARM_RENDER is not R3 on the cluster"
log "run 2: every output is its recording's undisturbed render; the streams are R3"

# A rolling update: SIGTERM drains renderer-2 (not ready, stops taking work,
# exits within its grace), and its presence entry goes.
kill -TERM "${pid_of[renderer-2]}"
for ((i = 0; i < 300; i++)); do alive "${pid_of[renderer-2]}" || break; sleep 0.1; done
alive "${pid_of[renderer-2]}" && fail "renderer-2 did not exit within 30 s of SIGTERM"
grep -q '"message":"renderer stopped"' "$dir/renderer-2.log" || fail "renderer-2 did not stop cleanly: $(tail -n 3 "$dir/renderer-2.log")"
ops kv-workers-after.txt kv ls mtsfarm_workers
grep -q renderer-2 "$dir/kv-workers-after.txt" && fail "renderer-2's presence entry outlived its SIGTERM"
log "SIGTERM: renderer-2 drained and exited; its presence entry is gone"

# Half-written objects: an S3 object appears only when its upload completes,
# so a process killed mid-upload leaves at most an incomplete multipart
# upload (invisible; MinIO removes it after 24 h, an S3 bucket by its
# lifecycle rule); every visible object was checked above or is a source.
incomplete=$(mc_as coordinator ls --json --incomplete -r "s3/$bucket" 2>&1) || fail "listing incomplete uploads: $incomplete"
incomplete=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$incomplete")
log "incomplete multipart uploads left by the killed processes: $(grep -c . <<<"$incomplete" || true)${incomplete:+ ($(head -n 3 <<<"$incomplete" | tr '\n' ' '))}"

printf 'e2e-farm: PASS in %ss: config %s settings checked; farm up %ss; run 1 %ss (%ss recording, %s bytes); course of 3 with 5 faults %ss (undisturbed %ss)\n' \
  "$(elapsed "$t_all")" "$checked" "$t_farm" "$t_run1" "$dur" "$size1" "$t_run3" "$t_clean"
