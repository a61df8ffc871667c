#!/usr/bin/env bash
# Runs pardit on GPUs for a list of cases and appends one perf/results JSON line per case.
#   perf/gpu/run-flux.sh RESULTS.jsonl "NAME|NP|REF|ARGS[|ENV]" ...
# Every case writes NAME.h5 in $WORK; a case with a reference REF (an earlier case's NAME, or -)
# also records its speed-up over that case and the relative L2 error of its latents against it.
# ENV ("VAR=value ..."): environment of that case only (e.g. PARDIT_FUSED_KERNELS=0).
# Each record also carries the GPUs' median SM clock and power and the share of samples held at
# the power cap during the case (perf/gpu/smi_summary.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$1; shift
WORK=${WORK:-/tmp/pardit-gpu}; mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
commit=$(cat .commit 2>/dev/null || git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Clock-event reasons (0x4: software power cap); the field was renamed from throttle reasons.
reasons=clocks_event_reasons.active
nvidia-smi --query-gpu=$reasons --format=csv > /dev/null 2>&1 || reasons=clocks_throttle_reasons.active
for case in "$@"; do
  IFS='|' read -r name np ref args envs <<<"$case"
  cmd="build-gpu/bin/pardit run $args --out $WORK/$name.h5 --overwrite"
  [ -n "${envs:-}" ] && cmd="env $envs $cmd"
  [ "$np" -gt 1 ] && cmd="mpirun -np $np --bind-to none $cmd"
  echo "### $name: $cmd"
  # The GPUs' clocks, power and clock-event reasons while the case runs (perf/gpu/smi_summary.py).
  nvidia-smi --query-gpu=index,clocks.sm,power.draw,$reasons,power.limit,temperature.gpu \
    --format=csv,noheader,nounits -lms 200 \
    > "$WORK/$name.smi" 2> /dev/null &
  smi=$!
  start=$(date +%s)
  if ! $cmd > "$WORK/$name.log" 2>&1; then
    kill "$smi" 2> /dev/null
    echo "FAILED ($name):"; tail -30 "$WORK/$name.log"; continue
  fi
  kill "$smi" 2> /dev/null
  echo "  wall $(( $(date +%s) - start )) s"
  grep -E "ready in|ETA" "$WORK/$name.log" | head -3
  line=$(python3 perf/record_result.py "$WORK/$name.h5" --gpu "$gpu" --gpus "$np" --commit "$commit" --command "$cmd")
  line=$(python3 perf/gpu/smi_summary.py "$WORK/$name.smi" "$np" "$line")
  if [ "$ref" != "-" ]; then
    line=$(python3 - "$WORK/$name.h5" "$WORK/$ref.h5" "$line" "$ref" <<'PY'
import json, sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["latents"][:].astype(np.float64)
b = h5py.File(sys.argv[2])["latents"][:].astype(np.float64)
rec = json.loads(sys.argv[3])
ref = json.loads(open(sys.argv[2][:-3] + ".json").read())
rec["rel_l2_vs_" + sys.argv[4]] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
rec["speedup_vs_" + sys.argv[4]] = round(ref["ms_per_step"] / rec["ms_per_step"], 3)
print(json.dumps(rec))
PY
)
  fi
  echo "$line" > "$WORK/$name.json"
  echo "$line" | tee -a "$results"
done
