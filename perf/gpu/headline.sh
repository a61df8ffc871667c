#!/usr/bin/env bash
# The headline comparison in one call: pardit on 1 GPU (fused kernels, and the LibTorch path as
# the numerical reference), Ulysses-2 and (4 GPUs) Ulysses-4 at 1024^2 and 2048^2, then the peers
# on the same machine: diffusers with regional torch.compile on 1 GPU (perf/peers/diffusers_flux.py)
# and diffusers' Ulysses-2 with compile (perf/peers/diffusers_flux_ulysses.py). Carry .whl.
#   perf/gpu/headline.sh RESULTS.jsonl      (LIBTORCH=0: without the LibTorch-path runs, to save time)
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$(realpath -m "$1")
ngpu=$(nvidia-smi -L | wc -l)
for px in 1024 2048; do
  c="--config configs/runs/flux-dev-$px.toml"
  cases=("libtorch-$px|1|-|$c|PARDIT_FUSED_KERNELS=0" "one-$px|1|libtorch-$px|$c"
         "u2-$px|2|one-$px|$c --ulysses-degree 2")
  [ "${LIBTORCH:-1}" = 0 ] && cases=("one-$px|1|-|$c" "u2-$px|2|one-$px|$c --ulysses-degree 2")
  [ "$ngpu" -ge 4 ] && cases+=("u4-$px|4|one-$px|$c --ulysses-degree 4")
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "${cases[@]}"
done
# The peers need diffusers: from the carried wheels (perf/peers/README.md) when it is not installed.
if ! python3 -c "import diffusers" 2>/dev/null; then
  for w in .whl ../.whl; do
    ls $w/*.whl > /dev/null 2>&1 || continue
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $w/*.whl &&
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    break
  done
fi
echo "### diffusers, regional torch.compile, 1 GPU"
PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" python3 perf/peers/diffusers_flux.py --mode compile \
  --sizes 1024x1024,2048x2048 --steps 28 --warmup 3 --out "$results" || echo "# peer FAILED or timed out (rc $?)"
echo "### diffusers Ulysses-2, regional torch.compile"
PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" torchrun --nproc-per-node 2 perf/peers/diffusers_flux_ulysses.py \
  --mode compile --sizes 1024x1024,2048x2048 --steps 28 --warmup 3 --out "$results" \
  || echo "# peer FAILED or timed out (rc $?)"
python3 - "$results" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
one = {r["height"]: r["ms_per_step"] for r in recs if r["system"] == "pardit" and r["gpus"] == 1
       and "FUSED_KERNELS=0" not in r["command"]}
print("# %-28s %-5s %5s %10s %9s %12s" % ("system", "size", "gpus", "ms/step", "TFLOP/s", "vs pardit 1"))
for r in recs:
    tag = r["system"] + (" (LibTorch path)" if "FUSED_KERNELS=0" in r["command"] else "")
    print("  %-28s %-5d %5d %10.2f %9.1f %12s" % (tag, r["height"], r["gpus"], r["ms_per_step"], r["tflops"],
          "%.3fx" % (one[r["height"]] / r["ms_per_step"]) if r["height"] in one else "-"))
PY
