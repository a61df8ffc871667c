#!/usr/bin/env bash
# Before/after for a change that has no switch: the same cases with two snapshots' builds, one
# after the other, in one call. BEFORE is another snapshot (perf/gpu/snapshot.sh of the older
# commit, moved aside, built with perf/gpu/build.sh); this tree is "after". Case names are
# run-flux.sh's; the before runs are named before-NAME, and each after run records its speed-up
# over before-NAME and the relative L2 distance of their latents.
#   perf/gpu/compare-builds.sh BEFORE_DIR RESULTS.jsonl "NAME|NP|ARGS[|ENV]" ...
set -uo pipefail
cd "$(dirname "$0")/../.."
before=$(realpath "$1") results=$(realpath -m "$2"); shift 2
export WORK=${WORK:-/tmp/pardit-gpu}
for case in "$@"; do
  IFS='|' read -r name np args envs <<<"$case"
  (cd "$before" && bash perf/gpu/run-flux.sh "$results" "before-$name|$np|-|$args|${envs:-}")
  bash perf/gpu/run-flux.sh "$results" "$name|$np|before-$name|$args|${envs:-}"
done
