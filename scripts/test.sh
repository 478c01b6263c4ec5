#!/usr/bin/env bash
# The test command: installs what is missing (ffmpeg, the MinIO server, the
# nats CLI), then runs go vet and the whole suite with the race detector.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run TestE2E ./coordinator).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_tools
log "go vet ./..."
go vet ./...
if [ $# -eq 0 ]; then set -- ./...; fi
log "go test -race $*"
go test -race -timeout 30m "$@"
