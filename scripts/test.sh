#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test (ctest: unit, mpi,
# reference, e2e, slurm; gpu tests skip themselves without a GPU). Extra arguments go to ctest,
# e.g. `bash scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${PARDIT_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 "$@"
