#!/usr/bin/env bash
# Build pardit with CUDA + NCCL on a GPU machine, in a snapshot made by perf/gpu/snapshot.sh
# (the H200 machines have no toml++: its headers travel in .deps/include).
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARDIT_CUDA=ON -DPARDIT_USE_CCACHE=OFF \
  -DPARDIT_TOMLPP_INCLUDE="$PWD/.deps/include" > build-gpu.log 2>&1 || { tail -40 build-gpu.log; exit 1; }
ninja -C build-gpu -k 0 -j "$(nproc)" "$@" >> build-gpu.log 2>&1 || { grep -E "error|FAILED" -A5 build-gpu.log | head -80; exit 1; }
echo "build-gpu: ok"
