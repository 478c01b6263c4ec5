# Shared by scripts/demo.sh, scripts/e2e-farm.sh and scripts/bench.sh:
# background processes that are always cleaned up, free ports, waiting for a
# port or a log line, and building the mtsfarm binary. Sourced, not run;
# source scripts/lib/tools.sh first (it defines log, repo_root and TOOLS_DIR).
# shellcheck shell=bash
: "${repo_root:?source scripts/lib/tools.sh before scripts/lib/procs.sh}"

# Every background process started with start_bg; stop_all stops them in
# reverse order. Callers install: trap stop_all EXIT
bg_pids=()
bg_names=()

# start_bg NAME LOGFILE CMD...: run CMD in the background (its own process
# group, stdout and stderr to LOGFILE) and remember its pid in $bg_pid.
start_bg() {
  local name=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  bg_pid=$!
  bg_pids+=("$bg_pid")
  bg_names+=("$name")
}

# stop_all [SECONDS]: SIGTERM every process start_bg started (their process
# groups, at once), wait up to SECONDS (default 15) for all of them, then
# SIGKILL what is left.
stop_all() {
  local grace=${1:-15} pid i left
  for pid in "${bg_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < grace * 10; i++)); do
    left=0
    for pid in "${bg_pids[@]}"; do
      if alive "$pid"; then left=1; break; fi
    done
    [ "$left" = 1 ] || break
    sleep 0.1
  done
  for pid in "${bg_pids[@]}"; do
    if alive "$pid"; then
      log "pid $pid did not stop in ${grace}s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  bg_pids=()
  bg_names=()
}

# alive PID: is the process still running?
alive() { kill -0 "$1" 2>/dev/null; }

# port_open HOST PORT: does something accept TCP connections there?
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# free_port: print a loopback TCP port nobody listens on (random, 20000-60999).
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 41000))
    if ! port_open 127.0.0.1 "$p"; then
      echo "$p"
      return 0
    fi
  done
  log "no free port found"
  return 1
}

# wait_port HOST PORT SECONDS PID LOGFILE: wait until the port accepts
# connections; fail early (showing the log's tail) when PID exits.
wait_port() {
  local host=$1 port=$2 secs=$3 pid=$4 logfile=$5 i
  for ((i = 0; i < secs * 10; i++)); do
    if port_open "$host" "$port"; then return 0; fi
    if ! alive "$pid"; then
      log "the process for $host:$port exited; the end of $logfile:"
      tail -n 20 "$logfile" >&2
      return 1
    fi
    sleep 0.1
  done
  log "nothing listens on $host:$port after ${secs}s; the end of $logfile:"
  tail -n 20 "$logfile" >&2
  return 1
}

# wait_line FILE REGEX SECONDS PID: wait until a line of FILE matches REGEX
# (grep -E) and print the first such line; fail early when PID exits.
wait_line() {
  local file=$1 re=$2 secs=$3 pid=$4 i line
  for ((i = 0; i < secs * 10; i++)); do
    if line=$(grep -m1 -E "$re" "$file" 2>/dev/null); then
      printf '%s\n' "$line"
      return 0
    fi
    if ! alive "$pid"; then
      log "the process writing $file exited before printing /$re/"
      return 1
    fi
    sleep 0.1
  done
  log "no line of $file matched /$re/ after ${secs}s"
  return 1
}

# build_mtsfarm: go build this checkout's mtsfarm binary into its own
# .tools/bin (incremental: fast when nothing changed) and print its path.
# Not into $TOOLS_DIR: that may be shared by other checkouts, whose runs
# would then start this checkout's binary.
build_mtsfarm() {
  mkdir -p "$repo_root/.tools/bin"
  go build -o "$repo_root/.tools/bin/mtsfarm" "$repo_root/cmd/mtsfarm"
  echo "$repo_root/.tools/bin/mtsfarm"
}

# media_summary FILE: one line per stream and the container, from ffprobe.
media_summary() {
  ffprobe -v error -show_entries \
    format=duration,size,bit_rate:stream=index,codec_type,codec_name,profile,width,height,r_frame_rate,sample_rate,channels,duration \
    -of compact=p=0 "$1"
}

# http_ok HOST PORT PATH: does GET PATH answer 200? (bash only: no curl on a
# fresh machine)
http_ok() {
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$3" "$1" "$2" >&3
    IFS=' ' read -r -t 5 _ status _ <&3 || exit 1
    [ "$status" = 200 ]
  ) 2>/dev/null
}

# elapsed START: seconds since START (a `date +%s.%N` value), one decimal.
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
