#!/usr/bin/env bash
# Runs the project's benchmarks briefly and prints a summary with ratios:
#   planner   BenchmarkPlan, BenchmarkDecodeAndPlan (a 3-hour, 20,000-event flow)
#   bus       BenchmarkPublish, BenchmarkWorker (embedded JetStream)
#   blob      BenchmarkPutStream (256 MiB of unknown size into MinIO and a local dir)
#   fetcher   BenchmarkFetch30Chunks (2 fetchers vs one plain HTTP copy)
#   renderer  BenchmarkRenderUnit (each layout vs the libx264 floor)
#   finalize  BenchmarkFinalize10Min (join + audio mix of a 10-minute job)
#   farm      BenchmarkFarmNoop, BenchmarkFarmScaling (1,000 units, 1-50 workers)
#   e2e       `mtsfarm run` on a scenario (fresh data dir, fake media generated
#             beforehand) and, right after it, the floor: one libx264 encode of
#             testsrc2 at the output's duration, geometry and settings. Writes
#             bench.json (here and in the output folder; see BENCHMARKS.md)
#
#   scripts/bench.sh [--runs N] [--compare OLD.json] [SCENARIO.json] [GROUP...|all]
#   (default group: e2e; default scenario: scripts/scenarios/bench-20m.json)
# Environment:
#   MTSFARM_BENCH_SECONDS   renderer unit length (default 20; the benchmark's own is 600)
#   MTSFARM_BENCH_SCENARIO  scenario of the e2e timing (the SCENARIO argument wins)
#   MTSFARM_BENCH_CACHE     the fake server's media cache (default ~/.cache/mtsfarm-bench)
#   MTSFARM_BENCH_OUT       where raw outputs and summary.txt go (default bench/<time>)
# Timings depend on the machine and on what else runs on it: compare runs on
# the same machine only.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
. scripts/lib/procs.sh
. scripts/lib/bench-e2e.sh

all=(planner bus farm blob fetcher renderer finalize e2e)
groups=() runs=1 compare="" scenario=${MTSFARM_BENCH_SCENARIO:-scripts/scenarios/bench-20m.json}
while [ $# -gt 0 ]; do
  case $1 in
  --runs) runs=${2:?--runs needs a count}; shift 2 ;;
  --compare) compare=${2:?--compare needs an earlier bench.json}; shift 2 ;;
  all) groups+=("${all[@]}"); shift ;;
  *.json) scenario=$1; shift ;;
  *) groups+=("$1"); shift ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { log "--runs $runs: want a positive count"; exit 2; }
[ -z "$compare" ] || [ -f "$compare" ] || { log "--compare $compare: no such file (give a bench.json of an earlier run)"; exit 2; }
[ -f "$scenario" ] || { log "scenario $scenario: no such file (see scripts/scenarios/)"; exit 2; }
[ ${#groups[@]} -gt 0 ] || groups=(e2e)
for g in "${groups[@]}"; do
  [[ " ${all[*]} " == *" $g "* ]] || { log "unknown group $g: want some of ${all[*]}"; exit 2; }
done

ensure_tools
export MTSFARM_BENCH_SECONDS=${MTSFARM_BENCH_SECONDS:-20}
out=${MTSFARM_BENCH_OUT:-bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"

# say LINE: to the terminal and the summary.
say() { printf '%s\n' "$*" | tee -a "$summary"; }

# gobench NAME PKG REGEX [go test flags]: run the benchmarks, raw output to
# $out/NAME.txt; fails when go test does.
gobench() {
  local name=$1 pkg=$2 re=$3 t
  shift 3
  log "$name: go test -run '^\$' -bench '$re' $* $pkg"
  t=$(date +%s.%N)
  if ! go test -run '^$' -bench "$re" -count 1 -timeout 60m "$@" "$pkg" >"$out/$name.txt" 2>&1; then
    tail -n 30 "$out/$name.txt" >&2
    log "$name: benchmarks failed (full output: $out/$name.txt)"
    return 1
  fi
  log "$name: $(elapsed "$t")s"
}

# metric NAME BENCH UNIT: the value of UNIT on the line of benchmark BENCH
# (its name without the -GOMAXPROCS suffix) in $out/NAME.txt.
metric() {
  awk -v b="$2" -v u="$3" '
    $1 ~ /^Benchmark/ {
      n = $1; sub(/-[0-9]+$/, "", n); sub(/^Benchmark/, "", n)
      if (n != b) next
      for (i = 3; i < NF; i += 2) if ($(i + 1) == u) { print $i; exit }
    }' "$out/$1.txt"
}

# fmt_num VALUE SCALE DIGITS: VALUE*SCALE with DIGITS decimals ("-" if empty).
fmt_num() { if [ -z "$1" ]; then printf -- '-'; else awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN { printf "%.*f", d, v * s }'; fi; }
ratio() { if [ -z "$1" ] || [ -z "$2" ] || awk -v b="$2" 'BEGIN { exit b != 0 }'; then printf -- '-'; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi; }

say "mtsfarm benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go version | cut -d' ' -f3), $(ffmpeg -version | head -n1 | cut -d' ' -f1-3)"

for g in "${groups[@]}"; do
  case $g in
  planner)
    gobench planner ./coordinator '^Benchmark(Plan|DecodeAndPlan)$' -benchtime 20x -benchmem
    say ""
    say "planner (3-hour flow, 20,000 events, 300 sessions, 6 units):"
    say "  plan               $(fmt_num "$(metric planner Plan ns/op)" 1e-6 1) ms/op (target < 50 ms), $(fmt_num "$(metric planner Plan B/op)" 1e-6 1) MB/op"
    say "  decode + plan      $(fmt_num "$(metric planner DecodeAndPlan ns/op)" 1e-6 1) ms/op, $(metric planner DecodeAndPlan MB/s) MB/s of flow JSON"
    ;;
  bus)
    gobench bus ./internal/bus . -benchtime 2000x
    say ""
    say "bus (embedded JetStream, in-process):"
    while read -r b; do
      say "  $(printf '%-18s' "$b") $(fmt_num "$(metric bus "$b" ns/op)" 1e-3 1) µs/op"
    done < <(awk '$1 ~ /^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); sub(/^Benchmark/, "", n); print n }' "$out/bus.txt")
    ;;
  farm)
    gobench farm ./internal/bus '^BenchmarkFarm' -benchtime 3x
    say ""
    say "farm (embedded JetStream, in-process workers, the real worker loop):"
    say "  1,000 no-op units, 50 workers: $(fmt_num "$(metric farm FarmNoop units/s)" 1 0) units/s, $(metric farm FarmNoop us/unit) us/unit (target >= 500 units/s)"
    for w in 1 10 50; do
      say "  scaling, $w workers (10 x 50 ms units each): efficiency $(metric farm "FarmScaling/workers=$w" efficiency) (target >= 0.95)"
    done
    ;;
  blob)
    gobench blob ./internal/blob '^BenchmarkPutStream$' -benchtime 1x
    say ""
    say "blob (a 256 MiB stream of unknown size):"
    for b in s3/part16MiB s3/part5MiB s3/part16MiB-4threads local; do
      say "  $(printf '%-22s' "$b") $(metric blob "PutStream/$b" MB/s) MB/s, peak heap $(fmt_num "$(metric blob "PutStream/$b" peak-heap-MiB)" 1 1) MiB"
    done
    ;;
  fetcher)
    gobench fetcher ./fetcher '^BenchmarkFetch30Chunks$' -benchtime 1x
    f2=$(metric fetcher Fetch30Chunks/fetchers=2 MB/s)
    plain=$(metric fetcher Fetch30Chunks/plain-http MB/s)
    f2s=$(metric fetcher Fetch30Chunks/fetchers=2 ns/op)
    plains=$(metric fetcher Fetch30Chunks/plain-http ns/op)
    say ""
    say "fetcher (30 chunks from the fake MTS Link into a local store):"
    say "  2 fetchers         $(fmt_num "$f2s" 1e-9 2) s, $(fmt_num "$f2s" "$(awk 'BEGIN { print 1e-6 / 30 }')" 0) ms a chunk, $f2 MB/s (ffprobe-validated, stored, results over JetStream)"
    say "  plain HTTP copy    $(fmt_num "$plains" 1e-9 3) s, $(fmt_num "$plains" "$(awk 'BEGIN { print 1e-6 / 30 }')" 1) ms a chunk, $plain MB/s (one sequential stream, no checks)"
    say "  fetchers / plain   $(ratio "$f2s" "$plains")x the time"
    ;;
  renderer)
    gobench renderer ./renderer '^BenchmarkRenderUnit$' -benchtime 1x
    say ""
    say "renderer (one ${MTSFARM_BENCH_SECONDS} s unit at 1280x720, libx264; x_floor = render time / one libx264 encode of testsrc2):"
    b=RenderUnit/single
    say "  floor: $(ratio "$(fmt_num "$(metric renderer "$b" ns/op)" 1e-9 3)" "$(metric renderer "$b" x_floor)") s wall for ${MTSFARM_BENCH_SECONDS} s of video ($(ratio "$MTSFARM_BENCH_SECONDS" "$(ratio "$(fmt_num "$(metric renderer "$b" ns/op)" 1e-9 3)" "$(metric renderer "$b" x_floor)")")x realtime)"
    for l in gap single presenter slides grid; do
      b="RenderUnit/$l"
      say "  $(printf '%-10s' "$l") $(fmt_num "$(metric renderer "$b" ns/op)" 1e-9 2) s, x_floor $(metric renderer "$b" x_floor), x_floor_cpu $(metric renderer "$b" x_floor_cpu), $(fmt_num "$(metric renderer "$b" x_realtime)" 1 1)x realtime, ffmpeg peak $(fmt_num "$(metric renderer "$b" MB_rss)" 1 0) MB"
    done
    ;;
  finalize)
    gobench finalize ./coordinator '^BenchmarkFinalize10Min$' -benchtime 1x
    say ""
    say "finalize (10-minute job: 2 units joined by stream copy, audio mixed, AAC once, checked):"
    for n in 0 40; do
      b="Finalize10Min/tracks=$n"
      s=$(metric finalize "$b" ns/op)
      say "  $(printf '%-10s' "$n tracks") $(fmt_num "$s" 1e-9 1) s ($(ratio 600 "$(fmt_num "$s" 1e-9 3)")x realtime): probe $(metric finalize "$b" probe-s/op) s, mix $(metric finalize "$b" mix-s/op) s, mux $(metric finalize "$b" mux-s/op) s, check $(metric finalize "$b" check-s/op) s; largest ffmpeg $(fmt_num "$(metric finalize "$b" ffmpeg-peak-MiB)" 1 0) MiB"
    done
    ;;
  e2e)
    bench_e2e "$scenario" "$runs" "$compare"
    ;;
  esac
done
say ""
log "raw outputs and this summary: $out"
