#!/usr/bin/env bash
# slurm/scaling-study.sh --dry-run: the matrix it would submit (no cluster needed). Checks the
# parallel-configuration names turn into the right degrees, points that do not fit are skipped,
# and a bad name is refused.
set -euo pipefail
SRC=${PARDIT_SOURCE_DIR:?run through ctest}
cfg=$SRC/configs/runs/default.toml
out=$(bash "$SRC/slurm/scaling-study.sh" --dry-run --nodes "1 2" --ranks-per-node "2" --gpus \
       --parallel "dp u2 u2r cfg2u dp2u2" --sizes "64" --results R "$cfg" -- --steps 2)
echo "$out"
fail=0
expect() {   # expect JOBNAME "DEGREES"
  local line; line=$(grep -- "--output=R/$1-%j.out" <<<"$out") || { echo "FAIL: no job $1"; fail=1; return; }
  grep -q -- "$2 --height 64 --width 64 --steps 2 --out R/$1.h5" <<<"$line" || { echo "FAIL: $1 lacks '$2'"; fail=1; }
  grep -q -- "--gpus-per-node=2" <<<"$line" || { echo "FAIL: $1 lacks --gpus-per-node=2"; fail=1; }
}
D() { echo "--dp-degree $1 --cfg-degree $2 --pipefusion-degree $3 --ring-degree $4 --ulysses-degree $5"; }
expect 64px-1n2r-dp    "$(D 2 1 1 1 1)"
expect 64px-2n2r-dp    "$(D 4 1 1 1 1)"
expect 64px-2n2r-u2    "$(D 2 1 1 1 2)"
expect 64px-2n2r-u2r   "$(D 1 1 1 2 2)"
expect 64px-1n2r-cfg2u "$(D 1 2 1 1 1)"
expect 64px-2n2r-dp2u2 "$(D 2 1 1 1 2)"
[ "$(grep -c '^sbatch' <<<"$out")" = 9 ] || { echo "FAIL: want 9 jobs (dp2u2 fits 4 ranks only)"; fail=1; }
grep -q 'skipped (world size not divisible): dp2u2@1x2' <<<"$out" || { echo "FAIL: dp2u2 on 2 ranks not skipped"; fail=1; }
rc=0; bash "$SRC/slurm/scaling-study.sh" --dry-run --parallel "x3" "$cfg" || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: bad spec exit $rc, want 2"; fail=1; }
[ ! -e R ] || { echo "FAIL: --dry-run created the results folder"; fail=1; }
exit "$fail"
