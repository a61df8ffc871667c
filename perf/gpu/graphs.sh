#!/usr/bin/env bash
# Before/after of CUDA graphs for the forward pass on one GPU (PARDIT_CUDA_GRAPHS=1), with the
# host time per step recorded (host_ms_per_step ~ ms_per_step means launch-bound), and Ulysses-2
# against the faster one-GPU run; the graph numerics test first.
#   perf/gpu/graphs.sh RESULTS.jsonl [LOG_DIR]    (2-GPU machine, inside a snapshot)
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1; logs=${2:-/tmp}
./build-gpu/tests/model/model_forward_graph_test > "$logs/graph-test.txt" 2>&1; echo "graph test rc=$?"
tail -3 "$logs/graph-test.txt"
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" \
    "eager-$px|1|-|$c" \
    "graphs-$px|1|eager-$px|$c|PARDIT_CUDA_GRAPHS=1" \
    "u2-$px|2|graphs-$px|$c --ulysses-degree 2"
done
