#!/usr/bin/env bash
# Issue 4's GPU matrix on a 2-GPU machine: U2, R2, CFG2 (true CFG, against the 2-pass single-GPU
# run), PF2, at 1024^2 and 2048^2; each 2-GPU record carries its speed-up over one GPU and the
# relative L2 error of its latents against the one-GPU latents.
#   perf/gpu/parallel-2gpu.sh RESULTS.jsonl
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1
run=perf/gpu/run-flux.sh
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  cfg="$c --true-cfg-scale 3.5"
  WORK=/tmp/w bash $run "$results" \
    "one-$px|1|-|$c" \
    "u2-$px|2|one-$px|$c --ulysses-degree 2" \
    "r2-$px|2|one-$px|$c --ring-degree 2" \
    "pf2-$px|2|one-$px|$c --pipefusion-degree 2 --num-pipeline-patches 4 --warmup-steps 2" \
    "onecfg-$px|1|-|$cfg" \
    "cfg2-$px|2|onecfg-$px|$cfg --cfg-degree 2"
done
