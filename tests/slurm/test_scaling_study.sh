#!/usr/bin/env bash
# A small scaling study end to end: slurm/scaling-study.sh submits 1n x1, 1n x2, 2n x1, 2n x2
# ranks (data parallel), one job at a time so the timings are not disturbed by each other,
# waits, and perf/scaling/report.py turns the four HDF5 files into a table and plots.
source "$(dirname "$0")/lib.sh"
write_config study.toml
t0=$SECONDS
bash "$SRC/slurm/scaling-study.sh" --nodes "1 2" --ranks-per-node "1 2" --parallel dp --sizes 64 \
  --serial --results study --wait study.toml
echo "study: $((SECONDS - t0)) s"
fail=0
rows=$(($(wc -l < study/report/scaling.csv) - 1))
[ "$rows" = 4 ] || { echo "FAIL: $rows rows in scaling.csv, want 4"; fail=1; }
for png in time_per_step speedup breakdown; do
  f=study/report/$png.png
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || { echo "FAIL: $f is not a PNG"; fail=1; }
  python3 -c "import matplotlib.image as m, sys; a=m.imread(sys.argv[1]); assert a.std() > 0.01, 'blank'" "$f" \
    || { echo "FAIL: $f is blank"; fail=1; }
done
grep -q '| 64x64 | dp | dp4 | 2 | 2 | 4 |' study/report/scaling.md || { echo "FAIL: no 2-node x 2-rank row"; fail=1; }
exit "$fail"
