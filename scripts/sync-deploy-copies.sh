#!/usr/bin/env bash
# Copies deploy/nats/auth.conf and deploy/minio/{setup.sh,*.json} into the
# Kubernetes ConfigMaps that carry them verbatim (kustomize may not read
# files outside deploy/k8s). Run it after editing those files;
# deploy/deploy_test.go (TestVerbatimCopies) fails until you do.
set -euo pipefail
cd "$(dirname "$0")/.."

# sync MANIFEST KEY FILE: the literal block "  KEY: |" of MANIFEST becomes FILE.
sync() {
  awk -v key="$2" -v file="$3" '
    BEGIN { while ((getline l < file) > 0) body = body (l == "" ? "" : "    " l) "\n" }
    skip && (/^  [^ ]/ || /^[^ ]/) { skip = 0 }
    skip { next }
    $0 == "  " key ": |" { print; printf "%s", body; skip = 1; found = 1; next }
    { print }
    END { if (!found) { printf "%s has no \"  %s: |\" block\n", FILENAME, key > "/dev/stderr"; exit 1 } }
  ' "$1" >"$1.tmp"
  mv "$1.tmp" "$1"
}
sync deploy/k8s/nats.yaml auth.conf deploy/nats/auth.conf
for f in setup.sh coordinator.json fetcher.json renderer.json client.json; do
  sync deploy/k8s/minio.yaml "$f" "deploy/minio/$f"
done
echo "deploy/k8s/nats.yaml and deploy/k8s/minio.yaml: copies updated"
