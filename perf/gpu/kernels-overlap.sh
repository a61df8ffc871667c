#!/usr/bin/env bash
# Before/after of the fused q/k/v kernel (src/kernels, PARDIT_FUSED_KERNELS=0 turns it off) on one
# GPU and of overlapping the Ulysses all-to-alls with the single block's MLP (PARDIT_OVERLAP=0
# turns it off) on two, at 1024^2 and 2048^2; the kernel's numerics test first. Each "after"
# record carries its speed-up over the "before" one and the relative L2 distance of its latents.
#   perf/gpu/kernels-overlap.sh RESULTS.jsonl [LOG_DIR]    (2-GPU machine, inside a snapshot)
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1; logs=${2:-/tmp}
./build-gpu/tests/kernels/kernels_qkv_norm_rope_test > "$logs/kernels-test.txt" 2>&1; echo "kernel test rc=$?"
tail -4 "$logs/kernels-test.txt"
run=perf/gpu/run-flux.sh
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  WORK=/tmp/w bash $run "$results" \
    "unfused-$px|1|-|$c|PARDIT_FUSED_KERNELS=0" \
    "fused-$px|1|unfused-$px|$c" \
    "u2-sequential-$px|2|fused-$px|$c --ulysses-degree 2|PARDIT_OVERLAP=0" \
    "u2-$px|2|fused-$px|$c --ulysses-degree 2"
done
