#!/usr/bin/env bash
# The farm of compose.yaml as local processes, without Docker: a standalone
# nats-server with JetStream, a MinIO server, one `mtsfarm coordinator`, two
# `mtsfarm fetcher` and two `mtsfarm renderer` processes, each configured only
# by the environment that compose.yaml gives its service (read from the file,
# with the service host names mapped to local ports), and `mtsfarm fake-mts`
# with a bundled scenario in place of MTS Link.
#
#   1. checks that every MTSFARM_* variable of compose.yaml and deploy/k8s is a
#      flag of the role that gets it (mtsfarm ignores unknown ones silently);
#   2. submits the recording with `nats req mtsfarm.api.submit`, follows it with
#      `mtsfarm watch`, downloads it with `mtsfarm get` and checks the MP4
#      (streams, duration = the recording's ±1 frame, a decode without errors);
#   3. submits it again (a new job, 15 s units), kills renderer-1 (SIGKILL, with
#      its ffmpeg) while it renders a unit, and checks that the job still
#      finishes, the killed unit rendered by renderer-2.
# Everything it started is stopped on exit; its temp dir is removed unless the
# run failed (then the logs stay there).
#
#   scripts/e2e-farm.sh
# Environment: MTSFARM_E2E_SCENARIO (default scripts/scenarios/lecture-slides.json),
# MTSFARM_E2E_TIMEOUT (seconds per job, default 600), MTSFARM_E2E_KEEP=1 keeps the
# temp dir.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
. scripts/lib/procs.sh

scenario=${MTSFARM_E2E_SCENARIO:-scripts/scenarios/lecture-slides.json}
job_timeout=${MTSFARM_E2E_TIMEOUT:-600}
[ -f "$scenario" ] || { log "no scenario file $scenario (MTSFARM_E2E_SCENARIO)"; exit 2; }

fail() {
  log "FAIL: $*"
  exit 1
}

t_all=$(date +%s.%N)
ensure_tools # ffmpeg, minio, the nats CLI
ensure_nats_server
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
  for need in NATS_URL MTSFARM_S3_ENDPOINT MTSFARM_S3_ACCESS_KEY MTSFARM_S3_SECRET_KEY; do
    [[ " ${svc_keys[$svc]} " == *" $need "* ]] || fail "compose.yaml: service $svc does not set $need"
  done
  for key in ${svc_keys[$svc]}; do
    case $key in
    NATS_URL) continue ;; # the standard variable: the default of --nats-url
    MTSFARM_*) ;;
    *) fail "compose.yaml: service $svc sets $key, which mtsfarm does not read" ;;
    esac
    [[ $flags == *" $(flag_of "$key") "* ]] || fail "compose.yaml: service $svc sets $key, but mtsfarm $svc has no --$(flag_of "$key")"
    checked=$((checked + 1))
  done
done
# Every MTSFARM_* name in the Kubernetes manifests (outside comments) is a
# flag of some role.
[ -d deploy/k8s ] || fail "deploy/k8s is missing"
k8s_keys=$(sed 's/#.*//' deploy/k8s/*.yaml | grep -oE '\bMTSFARM_[A-Z0-9_]+' | sort -u) ||
  fail "deploy/k8s sets no MTSFARM_* variable"
while read -r key; do
  [[ $all_flags == *" $(flag_of "$key") "* ]] || fail "deploy/k8s sets $key, but no farm role has --$(flag_of "$key")"
  checked=$((checked + 1))
done <<<"$k8s_keys"
log "compose.yaml and deploy/k8s: $checked MTSFARM_* settings, each a flag of its role"

# ---------------------------------------------------------------------------
# The farm.

nats_port=$(free_port)
nats_http=$(free_port)
minio_port=$(free_port)
minio_console=$(free_port)
nats_url="nats://127.0.0.1:$nats_port"

# compose: nats --jetstream --store_dir /data --http_port 8222 --server_name mtsfarm-nats
start_bg nats-server "$dir/nats-server.log" nats-server --jetstream --store_dir "$dir/nats-data" \
  --addr 127.0.0.1 --port "$nats_port" --http_port "$nats_http" --server_name mtsfarm-nats
nats_pid=$bg_pid

minio_user=$(resolve "${svc_env[minio|MINIO_ROOT_USER]:-}")
minio_pass=$(resolve "${svc_env[minio|MINIO_ROOT_PASSWORD]:-}")
if [ -z "$minio_user" ] || [ -z "$minio_pass" ]; then
  fail "compose.yaml: the minio service sets no MINIO_ROOT_USER/MINIO_ROOT_PASSWORD"
fi
start_bg minio "$dir/minio.log" env -i "PATH=$PATH" "HOME=$HOME" "MINIO_ROOT_USER=$minio_user" \
  "MINIO_ROOT_PASSWORD=$minio_pass" MINIO_BROWSER=off MINIO_UPDATE=off \
  minio server --quiet --address "127.0.0.1:$minio_port" --console-address "127.0.0.1:$minio_console" "$dir/minio-data"
minio_pid=$bg_pid

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
wait_healthy nats-server "$nats_pid" 30 "$nats_http" '/healthz?js-enabled-only=true'
wait_healthy minio "$minio_pid" 60 "$minio_port" /minio/health/ready
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
    v=${v//nats:\/\/nats:4222/$nats_url}
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
client_s3() {
  local envs out
  out=$(role_env coordinator client)
  mapfile -t envs < <(grep '^MTSFARM_S3_' <<<"$out")
  env -i "PATH=$PATH" "HOME=$dir" "NATS_URL=$nats_url" "${envs[@]}" "$@"
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
for p in fetcher-1 fetcher-2 renderer-1 renderer-2; do
  start_role "${p%-*}" "$p"
  pid_of[$p]=$bg_pid
done
for p in fetcher-1 fetcher-2 renderer-1 renderer-2; do
  wait_line "$dir/$p.log" "\"message\":\"${p%-*} started\"" 60 "${pid_of[$p]}" >/dev/null || fail "$p did not start"
done
for p in coordinator-1 fetcher-1 fetcher-2 renderer-1 renderer-2; do
  [ -n "${http_of[$p]:-}" ] || fail "compose.yaml gives ${p%-*} no MTSFARM_HTTP"
  for ((i = 0; ; i++)); do
    if "$mtsfarm" probe "http://${http_of[$p]}/readyz" >"$dir/probe.txt" 2>&1; then break; fi
    [ "$i" -lt 100 ] || fail "$p is not ready: $(cat "$dir/probe.txt")"
    sleep 0.1
  done
done
t_farm=$(elapsed "$t")
log "farm up in ${t_farm}s: nats-server :$nats_port, minio :$minio_port, coordinator-1, fetcher-1/2, renderer-1/2, fake MTS Link :$fake_port"

nats() { command nats --server "$nats_url" "$@"; }
nats micro ls >"$dir/micro-ls.txt" 2>&1 || fail "nats micro ls: $(cat "$dir/micro-ls.txt")"
grep -q mtsfarm "$dir/micro-ls.txt" || fail "nats micro ls does not list the mtsfarm service: $(cat "$dir/micro-ls.txt")"
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
# Prometheus metrics of real work: units rendered, bytes fetched, a finalize.
curl_metrics() { "$mtsfarm" probe "http://${http_of[$1]}/metrics" >"$dir/metrics-$1.txt" || fail "$1 /metrics: $(cat "$dir/metrics-$1.txt")"; }
curl_metrics coordinator-1
grep -q '^mtsfarm_finalize_seconds_count{role="coordinator"} 1$' "$dir/metrics-coordinator-1.txt" ||
  fail "coordinator-1 /metrics counts no finalize: $(grep finalize "$dir/metrics-coordinator-1.txt")"
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
# Run 2: a new job of the same recording in 15 s units; kill renderer-1 while
# it renders one of them.
t=$(date +%s.%N)
job2=$(submit "{\"url\": \"$url\", \"force\": true, \"unit_seconds\": 15}")
[ "$job2" != "$job1" ] || fail "a forced submit returned the old job $job1"
log "run 2: job $job2 (15 s units); waiting for renderer-1 to take a unit"
client timeout "$job_timeout" "$mtsfarm" watch "$job2" >"$dir/watch-2.log" 2>&1 &
watch_pid=$!
line=$(wait_line "$dir/renderer-1.log" "\"job_id\":\"$job2\".*\"message\":\"rendering unit\"" 300 "${pid_of[renderer-1]}") ||
  fail "renderer-1 never rendered a unit of $job2"
disown "${pid_of[renderer-1]}" # no "Killed" notice from bash
kill -KILL -- "-${pid_of[renderer-1]}"
t_kill=$(date +%s.%N)
unit=$(sed -n 's/.*"unit":\([0-9]*\).*/\1/p' <<<"$line")
log "run 2: killed renderer-1 (SIGKILL, with its ffmpeg) while it rendered unit $unit; waiting for the job"
wait "$watch_pid" || fail "mtsfarm watch $job2: $(tail -n 5 "$dir/watch-2.log")"
t_run2=$(elapsed "$t")
t_after_kill=$(elapsed "$t_kill")
if grep -E "\"job_id\":\"$job2\".*\"unit\":$unit,.*\"message\":\"unit rendered\"" "$dir/renderer-1.log" >/dev/null; then
  fail "renderer-1 finished unit $unit before it was killed: the kill came too late to test anything"
fi
grep -E "\"job_id\":\"$job2\".*\"unit\":$unit,.*\"message\":\"unit rendered\"" "$dir/renderer-2.log" >/dev/null ||
  fail "renderer-2 did not render unit $unit of $job2 after renderer-1 died"
client_s3 "$mtsfarm" get -o "$dir/run2.mp4" "$job2" >/dev/null
check_mp4 "$dir/run2.mp4" "$dur"
units=$(grep -c "\"job_id\":\"$job2\".*\"message\":\"unit rendered\"" "$dir/renderer-2.log" || true)
log "run 2: done in ${t_run2}s, ${t_after_kill}s after the kill (unit $unit handed to renderer-2 after the ack wait); renderer-2 rendered $units units; checked"

# The operator commands of deploy/README.md work against this farm.
ops() { # FILE ARGS...: nats ARGS, output to $dir/FILE
  local f=$dir/$1
  shift
  nats "$@" >"$f" 2>&1 || fail "nats $*: $(tail -n 5 "$f")"
}
ops micro-info.txt micro info mtsfarm
ops consumer-report.txt consumer report MTSFARM_RENDER
ops stream-report.txt stream report
ops kv-get.txt kv get mtsfarm_jobs "$job2"
ops kv-workers.txt kv ls mtsfarm_workers
grep -q renderer-2 "$dir/kv-workers.txt" || fail "nats kv ls mtsfarm_workers does not list renderer-2: $(cat "$dir/kv-workers.txt")"
ops status.txt req mtsfarm.api.status "{\"job\": \"$job2\"}"
grep -q '"state": *"done"' "$dir/status.txt" || fail "nats req mtsfarm.api.status: $(head -c 300 "$dir/status.txt")"

# A rolling update: SIGTERM drains renderer-2 (not ready, stops taking work,
# exits within its grace), and its presence entry goes.
kill -TERM "${pid_of[renderer-2]}"
for ((i = 0; i < 300; i++)); do alive "${pid_of[renderer-2]}" || break; sleep 0.1; done
alive "${pid_of[renderer-2]}" && fail "renderer-2 did not exit within 30 s of SIGTERM"
grep -q '"message":"renderer stopped"' "$dir/renderer-2.log" || fail "renderer-2 did not stop cleanly: $(tail -n 3 "$dir/renderer-2.log")"
ops kv-workers-after.txt kv ls mtsfarm_workers
grep -q renderer-2 "$dir/kv-workers-after.txt" && fail "renderer-2's presence entry outlived its SIGTERM"
log "SIGTERM: renderer-2 drained and exited; its presence entry is gone"

printf 'e2e-farm: PASS in %ss: config %s settings checked; farm up %ss; run 1 %ss (%ss recording, %s bytes); run 2 with renderer-1 killed %ss (%ss after the kill)\n' \
  "$(elapsed "$t_all")" "$checked" "$t_farm" "$t_run1" "$dur" "$size1" "$t_run2" "$t_after_kill"
