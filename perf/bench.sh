#!/usr/bin/env bash
# pardit and its Python peer (diffusers' FluxTransformer2DModel, eager and regional torch.compile)
# back to back on one GPU, flux-dev, 28 steps, 1024^2 and 2048^2; appends one perf/results JSON
# line per case to RESULTS.jsonl and prints a table with the ratios.
#   perf/bench.sh RESULTS.jsonl
# Run on a GPU machine inside a snapshot made by `bash perf/gpu/snapshot.sh` (commit first), with
# diffusers importable (the GPU machines lack it: carry .whl, see perf/peers/README.md).
# Environment: SIZES="1024 2048", PEER_MODES="eager,compile", SKIP_PARDIT=1, SKIP_PEER=1.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(realpath -m "${1:?usage: perf/bench.sh RESULTS.jsonl}")
touch "$results"; first=$(( $(wc -l < "$results") + 1 ))
SIZES=${SIZES:-1024 2048}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

if [ -z "${SKIP_PARDIT:-}" ]; then
  if [ ! -x build-gpu/bin/pardit ]; then
    t=$(date +%s); bash perf/gpu/build.sh pardit || echo "# pardit build FAILED"
    echo "# build: $(( $(date +%s) - t )) s"
  fi
  cases=()
  for s in $SIZES; do
    cfg=configs/runs/flux-dev-$s.toml
    [ -f "$cfg" ] || cfg="configs/runs/flux-dev-1024.toml --height $s --width $s"
    cases+=("dev$s|1|-|--config $cfg")
  done
  [ -x build-gpu/bin/pardit ] && WORK=${WORK:-/tmp/pardit-bench} bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
fi

if [ -z "${SKIP_PEER:-}" ]; then
  sizes=$(for s in $SIZES; do printf '%sx%s,' "$s" "$s"; done)
  echo "### diffusers peer: modes ${PEER_MODES:-eager,compile}, sizes ${sizes%,}"
  t=$(date +%s)
  PYTHONUNBUFFERED=1 python3 perf/peers/diffusers_flux.py --mode "${PEER_MODES:-eager,compile}" \
    --sizes "${sizes%,}" --steps 28 --warmup 3 --out "$results" || echo "# peer FAILED (rc $?)"
  echo "# peer wall: $(( $(date +%s) - t )) s"
fi

# Table of this run's lines: ratio = system's ms/step / pardit's ms/step at the same size (>1: pardit faster).
tail -n +"$first" "$results" | python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
base = {(r["height"], r["width"]): r["ms_per_step"] for r in recs if r["system"] == "pardit" and r["gpus"] == 1}
print("# %-18s %-10s %10s %9s %9s %11s" % ("system", "size", "ms/step", "TFLOP/s", "peak GiB", "vs pardit"))
for r in sorted(recs, key=lambda r: (r["height"] * r["width"], r["system"] != "pardit", r["system"])):
    b = base.get((r["height"], r["width"]))
    ratio = "%.3fx" % (r["ms_per_step"] / b) if b else "-"
    print("# %-18s %-10s %10.2f %9.1f %9.2f %11s" % (r["system"], "%dx%d" % (r["height"], r["width"]),
          r["ms_per_step"], r["tflops"], r["peak_mem_gib"], ratio))
print("# vs pardit = system ms/step / pardit ms/step at the same size (>1: pardit is faster)")
'
