#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the built-in default job
# (flux-tiny on CPU, no GPU needed), then summarises the output file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=${PARDIT_DEMO_OUT:-out/demo.h5}
mkdir -p "$(dirname "$out")"
build/bin/pardit run --config configs/runs/default.toml --out "$out" --overwrite
build/bin/pardit inspect "$out"
