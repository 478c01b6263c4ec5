#!/bin/sh
# One S3 user per mtsfarm role on a MinIO server, each allowed only what its
# role does (the policies beside this script): the coordinator the whole
# bucket; a fetcher writes chunks, slides and flows; a renderer reads those
# and writes units; a client (mtsfarm get) downloads outputs/. Safe to run
# again: users get their current secret and policy, nothing is deleted.
#
# Everything comes from the environment, so no secret is on a command line:
#   MINIO_ENDPOINT      the server (default http://minio:9000)
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD   its admin
#   MTSFARM_S3_BUCKET   the farm's bucket (default mtsfarm; created here)
#   S3_COORDINATOR_SECRET_KEY, S3_FETCHER_SECRET_KEY,
#   S3_RENDERER_SECRET_KEY, S3_CLIENT_SECRET_KEY   8 characters or more
#   S3_<ROLE>_ACCESS_KEY   the user names (default mtsfarm-coordinator,
#                          mtsfarm-fetcher, mtsfarm-renderer, mtsfarm-client)
# Needs `mc` (the minio/mc image has it).
#
# On AWS S3 or another S3 service: make the users there and attach these
# same policies (the bucket name replaced).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
endpoint=${MINIO_ENDPOINT:-http://minio:9000}
bucket=${MTSFARM_S3_BUCKET:-mtsfarm}
case $bucket in *[!a-z0-9.-]*) echo "setup.sh: bucket name '$bucket': want lower-case letters, digits, . and -" >&2; exit 2 ;; esac
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (MinIO's admin)}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (MinIO's admin)}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export MC_CONFIG_DIR="$scratch/mc"
# mc's alias for the admin, from the environment (MC_HOST_<alias>).
scheme=${endpoint%%://*}
hostport=${endpoint#*://}
MC_HOST_farm="$scheme://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@$hostport"
export MC_HOST_farm

# The server may still be starting.
i=0
until mc ready farm >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || { echo "setup.sh: MinIO at $endpoint is not ready after 60 s" >&2; exit 1; }
  sleep 1
done
mc mb --ignore-existing "farm/$bucket" >/dev/null

for role in coordinator fetcher renderer client; do
  up=$(echo "$role" | tr a-z A-Z)
  var=S3_${up}_SECRET_KEY
  eval "secret=\${$var:-}"
  eval "user=\${S3_${up}_ACCESS_KEY:-mtsfarm-$role}"
  if [ "${#secret}" -lt 8 ]; then
    echo "setup.sh: set $var (8 characters or more): the S3 secret key of $user" >&2
    exit 2
  fi
  policy=$here/$role.json
  if [ "$bucket" != mtsfarm ]; then # (the minio/mc image may have no sed: only needed here)
    policy=$scratch/$role.json
    sed "s/arn:aws:s3:::mtsfarm/arn:aws:s3:::$bucket/g" "$here/$role.json" >"$policy"
  fi
  # The secret on stdin, not in mc's arguments.
  printf '%s\n' "$secret" | mc admin user add farm "$user" >/dev/null
  mc admin policy create farm "mtsfarm-$role" "$policy" >/dev/null
  out=$(mc admin policy attach farm "mtsfarm-$role" --user "$user" 2>&1) ||
    case $out in *"already in effect"*) ;; *) echo "setup.sh: attaching policy mtsfarm-$role to $user: $out" >&2; exit 1 ;; esac
  echo "setup.sh: S3 user $user with policy mtsfarm-$role on bucket $bucket"
done
