# shellcheck shell=bash
# The end-to-end benchmark of scripts/bench.sh: `mtsfarm run` on a scenario
# served by the fake MTS Link server, and in the same run the floor (one
# libx264 encode of testsrc2 at the output's duration, geometry and encoder
# settings). Writes $out/bench.json. Needs tools.sh and procs.sh.

# json_num FILE KEY: the number of "KEY": in a flat JSON file ("" if none).
json_num() { { grep -o "\"$2\": *[-0-9.eE+]*" "$1" || true; } | head -n1 | sed 's/.*: *//'; }

# e2e_once SCENARIO MTSFARM DIR: one measured run; writes DIR/result.json.
e2e_once() {
  local scenario=$1 mtsfarm=$2 dir=$3 port url t0 wall pid
  mkdir -p "$dir"
  port=$(free_port)
  # --warm: every chunk is generated before the URL is printed, so the
  # timing is mtsfarm's alone.
  # shellcheck disable=SC2016 # expanded by sh, from its arguments
  start_bg fake-mts "$dir/fake-mts.log" sh -c 'exec "$0" fake-mts --warm --scenario "$1" --addr "127.0.0.1:$2" --cache-dir "$3" --log-format json >"$4"' \
    "$mtsfarm" "$scenario" "$port" "$bench_cache" "$dir/urls"
  url=$(wait_line "$dir/urls" '^https?://' 3600 "$bg_pid") || { tail -n 20 "$dir/fake-mts.log" >&2; return 1; }
  t0=$(date +%s.%N)
  "$mtsfarm" run --progress none --log-format json --log-level info --mts-base-url "http://127.0.0.1:$port" --data-dir "$dir/run" \
    -o "$dir/out.mp4" "$url" >"$dir/run.log" 2>&1 &
  pid=$!
  # Sample every 0.5 s: the largest RSS among mtsfarm and its children
  # (ffmpeg, ffprobe), and the size of its data dir (objects, temp files).
  local rss=0 disk=0 r d
  while kill -0 "$pid" 2>/dev/null; do
    r=$(ps -o rss= -p "$pid" --ppid "$pid" 2>/dev/null | sort -n | tail -n1 || true)
    [ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
    d=$(du -sk "$dir/run" 2>/dev/null | cut -f1 || true)
    [ -n "$d" ] && [ "$d" -gt "$disk" ] && disk=$d
    sleep 0.5
  done
  wait "$pid" || { tail -n 20 "$dir/run.log" >&2; log "e2e: mtsfarm run failed (log: $dir/run.log)"; return 1; }
  wall=$(elapsed "$t0")
  local media w h fps
  media=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$dir/out.mp4")
  IFS=, read -r w h fps < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,r_frame_rate -of csv=p=0 "$dir/out.mp4")
  # The floor: the job's default libx264 settings (proto.DefaultEncoding,
  # renderer/encoder.go) on a textured moving source.
  t0=$(date +%s.%N)
  ffmpeg -hide_banner -nostdin -y -v error -f lavfi -i "testsrc2=s=${w}x${h}:r=${fps}:d=${media}" \
    -c:v libx264 -preset veryfast -crf 23 -profile:v high -pix_fmt yuv420p -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 \
    -f mpegts "$dir/floor.ts"
  local floor
  floor=$(elapsed "$t0")
  rm -f "$dir/floor.ts"
  # Phases from the coordinator's "job state" log lines (1 s resolution):
  # each state lasts until the next one starts.
  local phases
  phases=$(grep '"job state"' "$dir/run.log" | sed -n 's/.*"state":"\([a-z]*\)".*"time":"\([^"]*\)".*/\1 \2/p;s/.*"time":"\([^"]*\)".*"state":"\([a-z]*\)".*/\2 \1/p' |
    while read -r s ts; do echo "$s $(date -d "$ts" +%s)"; done |
    awk 'BEGIN { n = 0 } !seen[$1]++ { st[n] = $1; at[n] = $2; n++ }
      END { for (i = 0; i + 1 < n; i++) printf "%s\"%s_seconds\": %d", (i ? ", " : ""), st[i], at[i + 1] - at[i] }')
  local fetched_kb
  fetched_kb=$(du -sk "$dir/run" | cut -f1)
  local fetch_s
  fetch_s=$(printf '{%s}' "$phases" | grep -o '"fetching_seconds": [0-9]*' | sed 's/.*: //')
  awk -v media="$media" -v wall="$wall" -v floor="$floor" -v rss="$rss" -v disk="$disk" -v kb="$fetched_kb" \
    -v fs="${fetch_s:-0}" -v phases="$phases" -v sc="$(basename "$scenario")" -v geo="${w}x${h}@${fps}" 'BEGIN {
      printf "{\"scenario\": \"%s\", \"geometry\": \"%s\", \"media_seconds\": %.3f, \"wall_seconds\": %.1f, \"speed\": %.3f, ", sc, geo, media, wall, media / wall
      printf "\"floor_seconds\": %.1f, \"floor_ratio\": %.3f, \"peak_rss_mb\": %.1f, \"temp_disk_peak_mb\": %.1f, ", floor, wall / floor, rss / 1024, disk / 1024
      printf "\"fetch_mb_s\": %.1f, \"phases\": {%s}}\n", (fs > 0 ? kb / 1024 / fs : 0), phases
    }' >"$dir/result.json"
  stop_all 15
}

# bench_e2e SCENARIO RUNS [OLD.json]: RUNS runs; bench.json is the run with
# the median wall time; prints a table and, with OLD.json, ratios to it.
bench_e2e() {
  local scenario=$1 runs=$2 old=${3:-} mtsfarm i
  mtsfarm=$(build_mtsfarm)
  bench_cache=${MTSFARM_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mtsfarm-bench}
  bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtsfarm-bench.XXXXXX")
  local tmp=$bench_tmp
  trap 'stop_all 15; rm -rf "$bench_tmp"' EXIT
  for ((i = 1; i <= runs; i++)); do
    log "e2e: run $i/$runs of mtsfarm run on $scenario"
    e2e_once "$scenario" "$mtsfarm" "$tmp/$i" || return 1
    cp "$tmp/$i/result.json" "$out/run-$i.json"
    cp "$tmp/$i/run.log" "$out/run-$i.log"
    rm -rf "$tmp/$i/run" "$tmp/$i/out.mp4"
  done
  local med
  med=$(for f in "$out"/run-*.json; do echo "$(json_num "$f" wall_seconds) $f"; done | sort -n | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
  cp "$med" "$out/bench.json"
  cp "$out/bench.json" bench.json
  say ""
  say "e2e (mtsfarm run, embedded farm, $(basename "$scenario"), median of $runs; the floor ran right after each job):"
  local k v o
  for k in media_seconds wall_seconds speed floor_seconds floor_ratio peak_rss_mb temp_disk_peak_mb fetch_mb_s \
    resolving_seconds fetching_seconds rendering_seconds finalizing_seconds; do
    v=$(json_num "$out/bench.json" "$k")
    if [ -n "$old" ]; then
      o=$(json_num "$old" "$k")
      say "  $(printf '%-20s %10s %10s  %s' "$k" "${v:--}" "${o:--}" "$(ratio "$v" "$o")x")"
    else
      say "  $(printf '%-20s %10s' "$k" "${v:--}")"
    fi
  done
  [ -z "$old" ] || say "  (columns: this run, $old, ratio this / old)"
  say "  bench.json: $out/bench.json (copied to ./bench.json)"
  stop_all 15
  rm -rf "$tmp"
  trap - EXIT
}
