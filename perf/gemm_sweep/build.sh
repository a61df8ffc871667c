#!/usr/bin/env bash
# Builds gemm-sweep (plain CUDA + cuBLASLt, no LibTorch) with nvcc for sm_90.
#   perf/gemm_sweep/build.sh [OUTPUT]     OUTPUT defaults to build-gpu/bin/gemm-sweep (repo root)
# nvcc: from PATH, else /usr/local/cuda/bin/nvcc. Extra nvcc flags: NVCC_FLAGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-gpu/bin/gemm-sweep}
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || nvcc=/usr/local/cuda/bin/nvcc
[ -x "$nvcc" ] || { echo "build.sh: nvcc not found (not on PATH, not at /usr/local/cuda/bin/nvcc)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
"$nvcc" -O2 -std=c++17 -arch=sm_90 ${NVCC_FLAGS:-} "$root/perf/gemm_sweep/gemm_sweep.cu" -lcublasLt -o "$out"
echo "built $out"
