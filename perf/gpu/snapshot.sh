#!/usr/bin/env bash
# On the CPU machine, before a GPU call: puts the committed HEAD (not the working tree, which may
# hold other engineers' half-written files) into .snap/ with the toml++ headers in .snap/.deps,
# so every recorded GPU result names exactly the code it ran. Carry ".snap" to the GPU machine.
#   perf/gpu/snapshot.sh [REV [DIR]]   (default HEAD into .snap; e.g. "HEAD~3 .snap-before" for
#                                       perf/gpu/compare-builds.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD} dir=${2:-.snap}
rm -rf "$dir" && mkdir -p "$dir/.deps/include"
git archive "$rev" | tar -x -C "$dir"
cp -r /usr/include/toml++ "$dir/.deps/include/"
git rev-parse --short=12 "$rev" > "$dir/.commit"
echo "snapshot of $(cat "$dir/.commit") in $dir ($(du -sh "$dir" | cut -f1))"
