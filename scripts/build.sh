#!/usr/bin/env bash
# Configures and builds pardit into ${PARDIT_BUILD_DIR:-build} (Release, ninja, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${PARDIT_BUILD_DIR:-build}
JOBS=${PARDIT_JOBS:-$(nproc)}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
ninja -C "$BUILD_DIR" -j "$JOBS"
