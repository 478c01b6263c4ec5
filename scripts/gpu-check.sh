#!/usr/bin/env bash
# GPU check for the renderer, for a machine with an NVIDIA GPU (driver
# installed) and Go. It renders one 1280x720 unit with every layout three
# ways — h264_nvenc with CUDA decode/scale/overlay, h264_nvenc with CPU
# filters, and libx264 — checks each output (exact length, the colours of
# every window, a decode without a single error), joins the three by stream
# copy and checks the join, then prints the speed of each.
#
# Usage: scripts/gpu-check.sh [SECONDS]   (unit length, default 60)
# ffmpeg/ffprobe come from PATH; when missing they are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'gpu-check: %s\n' "$*"; }

secs="${1:-${MTSFARM_GPU_SECONDS:-60}}"

if command -v nvidia-smi >/dev/null 2>&1; then
	say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
else
	say "warning: nvidia-smi not found; NVENC will likely not work"
fi

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	if ! command -v apt-get >/dev/null 2>&1; then
		say "ffmpeg is missing and apt-get is not available: install ffmpeg (with NVENC) and run again"
		exit 1
	fi
	say "installing ffmpeg with apt-get"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ffmpeg >/dev/null
fi
say "$(ffmpeg -hide_banner -version | head -1)"
encoders="$(ffmpeg -hide_banner -encoders 2>/dev/null)"
filters="$(ffmpeg -hide_banner -filters 2>/dev/null)"
grep -qw h264_nvenc <<<"$encoders" || {
	say "this ffmpeg has no h264_nvenc encoder: install an ffmpeg built with NVENC"
	exit 1
}
for f in scale_cuda overlay_cuda hwupload_cuda; do
	grep -qw "$f" <<<"$filters" || say "warning: this ffmpeg has no $f filter: the CUDA path will fail (the renderer falls back to CPU filters)"
done

if ! command -v go >/dev/null 2>&1; then
	say "Go is missing: install Go $(sed -n 's/^go //p' go.mod) and run again"
	exit 1
fi

say "rendering a ${secs}s unit three ways (this takes a while)"
set +e
MTSFARM_GPU_SECONDS="$secs" go test -tags gpu -run '^TestGPU$' -count=1 -v -timeout 60m ./renderer 2>&1 |
	tee /tmp/mtsfarm-gpu-check.log | grep -E '^(gpu-check:|--- |=== RUN|ok|FAIL|PASS)|_test\.go:[0-9]+:'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ]; then
	say "PASS (full log: /tmp/mtsfarm-gpu-check.log)"
else
	say "FAIL (full log: /tmp/mtsfarm-gpu-check.log)"
fi
exit "$rc"
