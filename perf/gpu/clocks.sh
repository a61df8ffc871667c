#!/usr/bin/env bash
# Runs cases as perf/gpu/run-flux.sh does while nvidia-smi samples every GPU's SM clock, power,
# temperature and clock-throttle reasons every 200 ms; prints, per case, the medians over the
# case's run and the throttle reasons seen. Answers: does a 28-step run hold the clocks of a short
# one?
#   perf/gpu/clocks.sh RESULTS.jsonl DEST "NAME|NP|REF|ARGS[|ENV]" ...
set -uo pipefail
cd "$(dirname "$0")/../.."
results=$(realpath -m "$1") dest=$(realpath -m "$2"); shift 2
mkdir -p "$dest"
# Reasons (bit mask): 0x1 idle, 0x4 software power cap, 0x20 software thermal, 0x40 hardware
# thermal, 0x80 hardware power brake (the field was renamed from throttle to event reasons).
reasons=clocks_event_reasons.active
nvidia-smi --query-gpu=$reasons --format=csv > /dev/null 2>&1 || reasons=clocks_throttle_reasons.active
nvidia-smi --query-gpu=index,timestamp,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu,$reasons \
  --format=csv,noheader,nounits -lms 200 > "$dest/smi.csv" 2> "$dest/smi.err" &
smi=$!
: > "$dest/cases.txt"
for case in "$@"; do
  name=${case%%|*}
  start=$(date +%s.%N)
  WORK=/tmp/w bash perf/gpu/run-flux.sh "$results" "$case"
  echo "$name $start $(date +%s.%N)" >> "$dest/cases.txt"
done
kill "$smi" 2> /dev/null
python3 - "$dest/smi.csv" "$dest/cases.txt" <<'PY'
import datetime, statistics, sys
rows = []
for line in open(sys.argv[1]):
    f = [x.strip() for x in line.split(",")]
    if len(f) < 8:
        continue
    try:
        t = datetime.datetime.strptime(f[1], "%Y/%m/%d %H:%M:%S.%f").timestamp()
        rows.append((int(f[0]), t, float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6]), f[7]))
    except ValueError:
        continue
print("# case          gpu  samples  SM MHz (median, min)  power W (median / limit)  temp C  throttle reasons (hex, share of samples)")
for line in open(sys.argv[2]):
    name, a, b = line.split()
    a, b = float(a), float(b)
    for g in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == g and a <= r[1] <= b and r[4] > 150]  # under load only
        if not sel:
            continue
        reasons = {}
        for r in sel:
            reasons[r[7]] = reasons.get(r[7], 0) + 1
        rs = ", ".join(f"{k} {v / len(sel):.0%}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        print(f"  {name:14s} {g:3d} {len(sel):8d}  {statistics.median(r[2] for r in sel):7.0f} {min(r[2] for r in sel):7.0f}"
              f"      {statistics.median(r[4] for r in sel):7.0f} / {sel[0][5]:.0f}        {statistics.median(r[6] for r in sel):5.0f}  {rs}")
PY
# The slowest rank's time of every step, to see a run slow down as it goes.
python3 - "$dest/cases.txt" <<'PY'
import sys, h5py, numpy as np
for line in open(sys.argv[1]):
    name = line.split()[0]
    try:
        s = h5py.File(f"/tmp/w/{name}.h5")["timings/step_seconds"][:]
    except OSError:
        continue
    slowest = np.max(s, axis=0).reshape(-1) * 1e3
    print(f"# {name}: ms per step, slowest rank:", " ".join(f"{x:.1f}" for x in slowest))
PY
