#!/usr/bin/env bash
# One GPU call on a machine of 2 or more GPUs: pardit on 1 GPU, Ulysses-2 and (4 GPUs) Ulysses-4 at
# 1024^2 and 2048^2, Ulysses-2 at 1024^2 again with the old non-blocking NCCL communicators
# (PARDIT_NCCL_NONBLOCKING=1, the before of that change), then diffusers' Ulysses-2 peer
# (perf/peers/diffusers_flux_ulysses.py, PEER_MODES, default compile) under torchrun.
#   perf/gpu/ulysses-peers.sh RESULTS.jsonl
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$(realpath -m "$1")
ngpu=$(nvidia-smi -L | wc -l)
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  cases=("one-$px|1|-|$c" "u2-$px|2|one-$px|$c --ulysses-degree 2")
  [ "$px" = 1024 ] && cases+=("u2-nonblocking-$px|2|one-$px|$c --ulysses-degree 2|PARDIT_NCCL_NONBLOCKING=1")
  [ "$ngpu" -ge 4 ] && cases+=("u4-$px|4|one-$px|$c --ulysses-degree 4")
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
done
echo "### diffusers Ulysses-2 peer"
t=$(date +%s)
PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-420}" torchrun --nproc-per-node 2 perf/peers/diffusers_flux_ulysses.py \
  --mode "${PEER_MODES:-compile}" --sizes 1024x1024,2048x2048 --steps 28 --warmup 3 --out "$results" \
  || echo "# peer FAILED or timed out (rc $?)"
echo "# peer wall: $(( $(date +%s) - t )) s"
