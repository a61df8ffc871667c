#!/usr/bin/env bash
# Runs cases with perf/gpu/run-flux.sh (which samples every GPU's SM clock, power, clock-event
# reasons, power limit and temperature every 200 ms into $WORK/NAME.smi) and prints, per case and
# GPU, the medians under load, the reasons seen, and the slowest rank's time of every step.
# Answers: does a 28-step run hold the clocks of a short one?
#   perf/gpu/clocks.sh RESULTS.jsonl DEST "NAME|NP|REF|ARGS[|ENV]" ...
# Reasons (bit mask): 0x1 idle, 0x4 software power cap, 0x20 software thermal, 0x40 hardware
# thermal, 0x80 hardware power brake.
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$(realpath -m "$1") dest=$(realpath -m "$2"); shift 2
mkdir -p "$dest"
names=()
for case in "$@"; do
  names+=("${case%%|*}")
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "$case"
done
for n in "${names[@]}"; do cp "/tmp/w/$n.smi" "$dest/" 2> /dev/null; done
python3 - /tmp/w "${names[@]}" <<'PY'
import statistics, sys
import h5py, numpy as np
work, names = sys.argv[1], sys.argv[2:]
print("# case          gpu  samples  SM MHz (median, min)  power W (median / limit)  temp C  reasons (hex, share of samples)")
for name in names:
    rows = []
    try:
        lines = open(f"{work}/{name}.smi").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        f = [x.strip() for x in line.split(",")]
        try:  # index, SM MHz, power W, reasons, power limit W, temperature C
            rows.append((int(f[0]), float(f[1]), float(f[2]), f[3], float(f[4]), float(f[5])))
        except (ValueError, IndexError):
            continue
    for g in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == g and r[2] > 150]  # under load only
        if not sel:
            continue
        reasons = {}
        for r in sel:
            reasons[r[3]] = reasons.get(r[3], 0) + 1
        rs = ", ".join(f"{k} {v / len(sel):.0%}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        print(f"  {name:14s} {g:3d} {len(sel):8d}  {statistics.median(r[1] for r in sel):7.0f} {min(r[1] for r in sel):7.0f}"
              f"      {statistics.median(r[2] for r in sel):7.0f} / {sel[0][4]:.0f}        {statistics.median(r[5] for r in sel):5.0f}  {rs}")
for name in names:  # the slowest rank's time of every step, to see a run slow down as it goes
    try:
        s = h5py.File(f"{work}/{name}.h5")["timings/step_seconds"][:]
    except OSError:
        continue
    print(f"# {name}: ms per step, slowest rank:", " ".join(f"{x:.1f}" for x in np.max(s, axis=0).reshape(-1) * 1e3))
PY
