#!/usr/bin/env bash
# Before/after of switches (environment settings) in one call: flux-dev at 1024^2 and 2048^2 on
# 1 GPU and Ulysses-2, first with the defaults, then once per setting; each setting's record
# carries its speed-up over the defaults and the relative L2 distance of its latents.
#   perf/gpu/switches.sh RESULTS.jsonl "VAR=value [VAR=value...]" ...
# e.g.  perf/gpu/switches.sh r.jsonl PARDIT_MODULATION_TABLE=0 CUBLASLT_WORKSPACE_SIZE=131072
# SIZES / LAYOUTS narrow it (default "1024 2048" / "1 u2").
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$(realpath -m "$1"); shift
for px in ${SIZES:-1024 2048}; do
  for layout in ${LAYOUTS:-1 u2}; do
    c="--config configs/runs/flux-dev-$px.toml" np=1
    [ "$layout" = u2 ] && c+=" --ulysses-degree 2" np=2
    base="$layout-$px"
    cases=("$base|$np|-|$c")
    i=0
    for envs in "$@"; do
      i=$((i + 1))
      cases+=("$base-s$i|$np|$base|$c|$envs")
    done
    WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
  done
done
