#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the demo job: flux-tiny on 4 CPU
# ranks with a hybrid mesh (data parallel x Ulysses; no GPU needed), then summarises the file.
# `build/bin/pardit` with no arguments runs the same model on one rank.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=${PARDIT_DEMO_OUT:-out/demo.h5}
mkdir -p "$(dirname "$out")"
# One thread per rank: 4 ranks share this machine's cores.
OMP_NUM_THREADS=1 mpirun -np 4 --oversubscribe --bind-to none \
  build/bin/pardit run --config configs/runs/demo-4ranks.toml --out "$out" --overwrite
build/bin/pardit inspect "$out"
