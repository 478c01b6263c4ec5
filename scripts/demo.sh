#!/usr/bin/env bash
# Run the main job: the embedded farm (mtsfarm run) on a bundled demo webinar
# served by the fake MTS Link, then show what was made. On a fresh Debian
# machine with only Go it installs ffmpeg and builds mtsfarm first.
#
#   scripts/demo.sh [mtsfarm run flags]        the bundled demo (75 s lecture with
#                                              slides, a screenshare and a student)
#   scripts/demo.sh URL [mtsfarm run flags]    a real MTS Link recording URL:
#                                              plain `mtsfarm run [flags] URL`
#   scripts/demo.sh --course [archive flags]   `mtsfarm archive` on the bundled course
#                                              of five (scripts/scenarios/course-archive.json)
#                                              into out/course; run it again: nothing is
#                                              rendered twice
#   scripts/demo.sh --course FILE [flags]      `mtsfarm archive [flags] FILE` on real
#                                              recordings (a URL list or a manifest)
#
# Environment:
#   MTSFARM_DEMO_DIR       data dir (default .tools/demo): the JetStream store, the
#                          object store and the fake server's media cache. Running
#                          again reuses all of it, so a second run takes seconds.
#   MTSFARM_DEMO_OUT       output file of the demo (default out/demo.mp4)
#   MTSFARM_DEMO_SCENARIO  scenario file (default scripts/scenarios/demo.json)
#   MTSFARM_DEMO_PORT      port of the fake MTS Link (default: the one the last run
#                          used, else 18089; a free one when taken). Recording URLs
#                          include it, so a new port means a new job.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
. scripts/lib/procs.sh

ensure_ffmpeg
log "building mtsfarm"
mtsfarm=$(build_mtsfarm)

# The real-URL form.
if [ $# -gt 0 ] && [[ $1 == http://* || $1 == https://* ]]; then
  url=$1
  shift
  log "mtsfarm run $* $url"
  exec "$mtsfarm" run "$@" "$url"
fi
course=
if [ "${1:-}" = --course ]; then
  course=1
  shift
  if [ $# -gt 0 ] && [ -f "$1" ]; then
    list=$1
    shift
    log "mtsfarm archive $* $list"
    exec "$mtsfarm" archive "$@" "$list"
  fi
fi
for a in "$@"; do
  if [[ $a != -* ]] && [[ $a == *://* ]]; then
    log "give the recording URL first: scripts/demo.sh URL [mtsfarm run flags]"
    exit 2
  fi
done

data=${MTSFARM_DEMO_DIR:-$repo_root/.tools/demo}
out=${MTSFARM_DEMO_OUT:-out/demo.mp4}
scenario=${MTSFARM_DEMO_SCENARIO:-scripts/scenarios/demo.json}
[ -z "$course" ] || scenario=${MTSFARM_DEMO_SCENARIO:-scripts/scenarios/course-archive.json}
[ -f "$scenario" ] || { log "no scenario file $scenario (MTSFARM_DEMO_SCENARIO)"; exit 2; }
mkdir -p "$data/fake" "$(dirname "$out")"
port=${MTSFARM_DEMO_PORT:-$(cat "$data/fake-mts.port" 2>/dev/null || echo 18089)}
if port_open 127.0.0.1 "$port"; then
  p=$(free_port)
  log "port $port is taken: the fake MTS Link uses $p (a new address is a new job: media is fetched and rendered again)"
  port=$p
fi
echo "$port" >"$data/fake-mts.port"

trap "stop_all 15" EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fake_log="$data/fake-mts.log"
fake_urls="$data/fake-mts.urls"
# shellcheck disable=SC2016 # expanded by sh, from its arguments
start_bg fake-mts "$fake_log" sh -c 'exec "$0" fake-mts --scenario "$1" --addr "127.0.0.1:$2" --cache-dir "$3" --log-format json >"$4"' \
  "$mtsfarm" "$scenario" "$port" "$data/fake" "$fake_urls"
fake_pid=$bg_pid
url=$(wait_line "$fake_urls" '^https?://' 30 "$fake_pid") || { tail -n 20 "$fake_log" >&2; exit 1; }
wait_port 127.0.0.1 "$port" 10 "$fake_pid" "$fake_log"
log "fake MTS Link on 127.0.0.1:$port (log: $fake_log)"

if [ -n "$course" ]; then
  # Every URL of the course is printed before the server listens.
  grep -E '^https?://' "$fake_urls" >"$data/course.txt"
  outdir=${MTSFARM_DEMO_OUT:-out/course}
  log "mtsfarm archive --mts-base-url http://127.0.0.1:$port --data-dir $data --out-dir $outdir --session-cookie fake-session-cookie $* $data/course.txt"
  "$mtsfarm" archive --mts-base-url "http://127.0.0.1:$port" --data-dir "$data" --out-dir "$outdir" \
    --session-cookie fake-session-cookie --course "Go для всех" "$@" "$data/course.txt"
  log "the course is in $outdir (report: $outdir/archive-report.json); run the same command again: it skips what is archived"
  exit 0
fi

start=$(date +%s.%N)
log "mtsfarm run --mts-base-url http://127.0.0.1:$port --data-dir $data -o $out $* $url"
"$mtsfarm" run --mts-base-url "http://127.0.0.1:$port" --data-dir "$data" -o "$out" "$@" "$url"
took=$(elapsed "$start")

[ -s "$out" ] || { log "mtsfarm run made no $out"; exit 1; }
summary=$(media_summary "$out")
grep -q 'codec_type=video' <<<"$summary" || { log "$out has no video stream"; exit 1; }
grep -q 'codec_type=audio' <<<"$summary" || { log "$out has no audio stream"; exit 1; }
log "made $out in ${took}s:"
printf '%s\n' "$summary"
