#!/usr/bin/env bash
# NCCL settings for Ulysses' exchanges: pardit-comm-bench all_to_all and all_gather over 2 MiB..256 MiB
# (the q/k/v all-to-all of a Flux block is 42 MiB per rank at 1024^2 on 2 GPUs, 155 MiB at 2048^2)
# under each NCCL environment below, one JSON line per (setting, op, size) with the setting in
# "nccl_env"; then a table of each setting's time relative to NCCL's defaults.
#   perf/gpu/nccl-tuning.sh BUILD_DIR RESULTS.jsonl [NP]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$1 results=$(realpath -m "$2") np=${3:-$(nvidia-smi -L | grep -c '^GPU')}
bench="$build/bin/pardit-comm-bench"
[ -x "$bench" ] || { echo "nccl-tuning.sh: $bench not found"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
commit=$(cat .commit 2>/dev/null || git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
settings=(
  "NCCL_DEBUG=WARN"
  "NCCL_P2P_NVL_CHUNKSIZE=1048576"
  "NCCL_P2P_NVL_CHUNKSIZE=2097152"
  "NCCL_MIN_P2P_NCHANNELS=32"
  "NCCL_MIN_P2P_NCHANNELS=32 NCCL_P2P_NVL_CHUNKSIZE=1048576"
  "NCCL_MIN_NCHANNELS=32 NCCL_MIN_P2P_NCHANNELS=32"
  "NCCL_NTHREADS=512"
  "NCCL_PROTO=Simple"
  "NCCL_P2P_USE_CUDA_MEMCPY=1"
  "NCCL_P2P_READ_ENABLE=1"
)
tmp=$(mktemp -d /tmp/nccl-tuning.XXXXXX)
for i in "${!settings[@]}"; do
  s=${settings[$i]}
  cmd="mpirun -np $np --bind-to none env $s $bench --backend nccl --ops all_to_all,all_gather"
  cmd+=" --min-bytes 2M --max-bytes 256M --factor 2 --warmup 5 --iters 20 --dtype bf16"
  echo "### $cmd"
  timeout 120 $cmd --json "$tmp/$i.jsonl" | grep -v '^#' | awk '{printf "  %s", $0"\n"}' | head -20
  python3 - "$tmp/$i.jsonl" "$results" "$np" "$gpu" "$commit" "$cmd" "$s" <<'PY'
import datetime, json, sys
src, dst, np_, gpu, commit, cmd, env = sys.argv[1:]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
try:
    lines = [l for l in open(src) if l.strip()]
except FileNotFoundError:
    lines = []
with open(dst, "a") as out:
    for l in lines:
        rec = json.loads(l)
        rec.update(gpus=int(np_), gpu=gpu, commit=commit, date=date, command=cmd, nccl_env=env)
        out.write(json.dumps(rec) + "\n")
PY
done
python3 - "$results" "$commit" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = [r for r in recs if r.get("commit") == sys.argv[2] and "nccl_env" in r]
base = {(r["op"], r["bytes"]): r["time_us"] for r in recs if r["nccl_env"] == "NCCL_DEBUG=WARN"}
envs = list(dict.fromkeys(r["nccl_env"] for r in recs))
for op in ("all_to_all", "all_gather"):
    sizes = sorted({r["bytes"] for r in recs if r["op"] == op})
    print(f"# {op}: time relative to NCCL's defaults (lower is faster); sizes in MiB")
    print("  %-58s" % "setting" + "".join("%8d" % (b >> 20) for b in sizes))
    for e in envs:
        t = {r["bytes"]: r["time_us"] for r in recs if r["nccl_env"] == e and r["op"] == op}
        print("  %-58s" % e + "".join("%8.3f" % (t[b] / base[(op, b)]) if b in t and (op, b) in base else "%8s" % "-"
                                      for b in sizes))
PY
rm -rf "$tmp"
