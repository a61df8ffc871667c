#!/usr/bin/env bash
# On a GPU machine: build and run from the committed HEAD only (the copied working tree may hold
# other engineers' half-written files), so every recorded result names exactly the code it ran.
# Usage: perf/gpu/snapshot.sh DIR  -> DIR holds HEAD's files plus .deps
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
git archive HEAD | tar -x -C "$dir"
cp -r .deps "$dir/"
git rev-parse --short=12 HEAD > "$dir/.commit"
