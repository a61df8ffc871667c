#!/usr/bin/env bash
# The Ulysses overlap settings measured against each other in one call: the multiprocessors left
# to NCCL (PARDIT_SM_CARVEOUT) and no overlap (PARDIT_OVERLAP=0), Ulysses-2 at 1024^2 and 2048^2
# (U4 with the defaults when 4 GPUs are there), then one traced U2 2048^2 run (PARDIT_PROFILE)
# summarised into DEST. (Its run at d8c6a6fe5a41 also measured head chunks, since removed.)
#   perf/gpu/ulysses-sweep.sh RESULTS.jsonl DEST
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1 dest=$2
mkdir -p "$dest"
ngpu=$(nvidia-smi -L | wc -l)
build-gpu/tests/kernels/kernels_qkv_norm_rope_test > "$dest/kernels-test.txt" 2>&1; echo "kernel test: rc $?"
grep -E "PASSED|FAILED" "$dest/kernels-test.txt"
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  u="$c --ulysses-degree 2"
  cases=("one-$px|1|-|$c"
         "u2-$px|2|one-$px|$u"
         "u2-carveout0-$px|2|one-$px|$u|PARDIT_SM_CARVEOUT=0"
         "u2-carveout32-$px|2|one-$px|$u|PARDIT_SM_CARVEOUT=32"
         "u2-no-overlap-$px|2|one-$px|$u|PARDIT_OVERLAP=0")
  [ "$ngpu" -ge 4 ] && cases+=("u4-$px|4|one-$px|$c --ulysses-degree 4")
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
done
WORK=/tmp/w bash perf/gpu/run-flux.sh /tmp/w/traced.jsonl \
  "u2-traced-2048|2|-|--config configs/runs/flux-dev-2048.toml --ulysses-degree 2|PARDIT_PROFILE=/tmp/w/u2-traced-2048"
python3 perf/profile_summary.py /tmp/w/u2-traced-2048.rank0.json /tmp/w/u2-traced-2048.rank1.json --top 20 \
  > "$dest/profile-summary.txt" 2>&1
tar -czf "$dest/traces.tar.gz" -C /tmp/w u2-traced-2048.rank0.json u2-traced-2048.rank1.json
