# Shared by scripts/test.sh, scripts/demo.sh and scripts/bench.sh: install what
# mtsfarm needs on a fresh Debian machine that has only Go. Sourced, not run.
#   ffmpeg/ffprobe  Debian packages (apt-get)
#   minio           the MinIO server (AGPL; run as a separate process, never linked)
#   nats            the NATS CLI
#   chromium        Debian package, headless, for the dashboard's browser test
#   nats-server     opt-in (ensure_nats_server): the standalone NATS server, for
#                   scripts/e2e-farm.sh; tests embed the server instead
#   mc              opt-in (ensure_mc): MinIO's client, for deploy/minio/setup.sh in
#                   scripts/e2e-farm.sh
# Go tools go into $TOOLS_DIR (default .tools/bin, git-ignored) at pinned versions.
# shellcheck shell=bash

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
NATSCLI_VERSION="v0.5.0" # not v0.5.1
NATS_SERVER_VERSION="v2.15.2" # the version go.mod embeds
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9" # the one MINIO_VERSION requires

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$repo_root/.tools/bin}
export PATH="$TOOLS_DIR:$PATH"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root to run: $*"; return 1
  fi
}

ensure_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then return 0; fi
  log "installing ffmpeg (Debian package)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  command -v ffmpeg >/dev/null || { log "ffmpeg did not install"; return 1; }
}

# ensure_go_tool NAME MODULE@VERSION: go install into $TOOLS_DIR unless the
# pinned version is already there (a stamp file records it).
ensure_go_tool() {
  local name=$1 pkg=$2 stamp
  stamp="$TOOLS_DIR/.$name.version"
  if [ -x "$TOOLS_DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then return 0; fi
  mkdir -p "$TOOLS_DIR"
  log "installing $name ($pkg)"
  GOBIN="$TOOLS_DIR" go install "$pkg"
  echo "$pkg" >"$stamp"
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  log "installing chromium (Debian package, for the dashboard's browser test)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  command -v chromium >/dev/null || { log "chromium did not install"; return 1; }
}

ensure_tools() {
  ensure_ffmpeg
  ensure_chromium
  ensure_go_tool nats "github.com/nats-io/natscli/nats@$NATSCLI_VERSION"
  ensure_go_tool minio "github.com/minio/minio@$MINIO_VERSION"
}

# ensure_nats_server: the standalone nats-server (not part of ensure_tools:
# only scripts/e2e-farm.sh runs one).
ensure_nats_server() {
  ensure_go_tool nats-server "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
}

# ensure_mc: MinIO's client (deploy/minio/setup.sh; only scripts/e2e-farm.sh).
ensure_mc() {
  ensure_go_tool mc "github.com/minio/mc@$MC_VERSION"
}
