#!/usr/bin/env bash
# One GPU call: the kernel test, then flux-dev at 1024^2 and 2048^2 on 1 GPU, Ulysses-2 and (when
# the machine has 4 GPUs) Ulysses-4, each traced at one step (PARDIT_PROFILE); the traces
# (gzipped) and their summaries (perf/profile_summary.py, per rank and --ranks) go to DEST.
#   perf/gpu/profile-scaling.sh RESULTS.jsonl DEST
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1 dest=$2
mkdir -p "$dest"
ngpu=$(nvidia-smi -L | wc -l)
build-gpu/tests/kernels/kernels_qkv_norm_rope_test > "$dest/kernels-test.txt" 2>&1; echo "kernel test: rc $?"
tail -3 "$dest/kernels-test.txt"
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  cases=("one-$px|1|-|$c|PARDIT_PROFILE=/tmp/w/one-$px"
         "u2-$px|2|one-$px|$c --ulysses-degree 2|PARDIT_PROFILE=/tmp/w/u2-$px")
  [ "$ngpu" -ge 4 ] && cases+=("u4-$px|4|one-$px|$c --ulysses-degree 4|PARDIT_PROFILE=/tmp/w/u4-$px")
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
done
for t in /tmp/w/*.rank0.json /tmp/w/*.rank1.json; do
  [ -f "$t" ] || continue
  python3 perf/profile_summary.py "$t" --top 30 >> "$dest/profile-summary.txt" 2>&1
done
for px in 1024 2048; do
  for m in u2 u4; do
    ls /tmp/w/$m-$px.rank*.json > /dev/null 2>&1 &&
      python3 perf/profile_summary.py --ranks /tmp/w/$m-$px.rank*.json >> "$dest/profile-summary.txt" 2>&1
  done
done
tar -czf "$dest/traces.tar.gz" -C /tmp/w $(cd /tmp/w && ls *.rank0.json *.rank1.json 2>/dev/null)
ls -la "$dest"
