#!/usr/bin/env bash
# Runs pardit-comm-bench with NCCL on every GPU of this machine (one rank per GPU), all ops,
# 1 KiB..1 GiB (factor 2), and appends one JSON line per (op, size) to RESULTS.
#   perf/comm_bench/run-gpu.sh BUILD_DIR RESULTS.jsonl [NP] [extra pardit-comm-bench args...]
# NP defaults to the number of visible GPUs (CUDA_VISIBLE_DEVICES, else nvidia-smi -L).
# Each line: the benchmark's own fields (system="pardit-comm-bench", backend, op, dtype, bytes,
# count, ranks, time_us, algbw_gbs, busbw_gbs, wrong, ...) plus gpus, gpu (nvidia-smi name),
# commit (.commit if present, else git), date (UTC, ISO 8601) and command.
# Exit code: the benchmark's (non-zero if any result was wrong or it failed).
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 2 ]; then
  sed -n '2,9p' "$0"
  exit 2
fi
build=$1 results=$2
shift 2
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  np=$1
  shift
elif [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  np=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .)
else
  np=$(nvidia-smi -L | grep -c '^GPU')
fi
bench="$build/bin/pardit-comm-bench"
[ -x "$bench" ] || { echo "run-gpu.sh: $bench not found (build the pardit-comm-bench target)"; exit 2; }
[ "$np" -ge 1 ] || { echo "run-gpu.sh: no GPU visible"; exit 2; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
commit=$(cat .commit 2>/dev/null || git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tmp=$(mktemp /tmp/pardit-comm-bench.XXXXXX.jsonl)
cmd="mpirun -np $np --bind-to none $bench --backend nccl --ops all_to_all,all_gather,all_reduce,sendrecv"
cmd+=" --min-bytes 1K --max-bytes 1G --factor 2 --warmup 5 --iters 20 --dtype bf16 $*"
echo "### $cmd"
$cmd --json "$tmp"
rc=$?
python3 - "$tmp" "$results" "$np" "$gpu" "$commit" "$date" "$cmd" <<'PY'
import json, sys
src, dst, np_, gpu, commit, date, cmd = sys.argv[1:]
n = 0
with open(src) as f, open(dst, "a") as out:
    for line in f:
        if not line.strip():
            continue
        rec = json.loads(line)
        rec.update(gpus=int(np_), gpu=gpu, commit=commit, date=date, command=cmd)
        out.write(json.dumps(rec) + "\n")
        n += 1
print(f"run-gpu.sh: appended {n} lines to {dst}")
PY
rm -f "$tmp"
exit $rc
