#!/usr/bin/env bash
# The test command: installs what is missing (ffmpeg, the MinIO server, the
# nats CLI), then runs go vet, the whole suite with the race detector and
# scripts/e2e-farm.sh (the compose farm as separate processes, with faults).
# Extra arguments go to `go test` only (e.g. scripts/test.sh -run TestE2E ./coordinator).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_tools
log "go vet ./..."
go vet ./...
farm=0
if [ $# -eq 0 ]; then set -- ./...; farm=1; fi
log "go test -race $*"
go test -race -timeout 30m "$@"
if [ "$farm" = 1 ]; then
  log "scripts/e2e-farm.sh"
  scripts/e2e-farm.sh
fi
