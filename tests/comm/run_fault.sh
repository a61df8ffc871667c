#!/bin/sh
# run_fault.sh NP FAULT EXPECTED_EXIT MAX_SECONDS REGEX PROBE
# Runs fault_probe under mpirun with PARDIT_FAULT=FAULT and checks that the job ended (all ranks)
# within MAX_SECONDS, with exit code EXPECTED_EXIT ("nonzero" for any failure code), and that
# the output matches REGEX (grep -E). A hang is caught by `timeout` and fails the test.
# PARDIT_FAULT_WRAPPER (optional) is put before the probe, e.g. emulate_nodes.sh.
np=$1 fault=$2 expected=$3 max=$4 regex=$5 probe=$6
log=$(mktemp)
start=$(date +%s)
PARDIT_FAULT=$fault timeout -s KILL "$max" "${MPIEXEC:-mpirun}" -np "$np" --oversubscribe --bind-to none \
  $PARDIT_FAULT_WRAPPER "$probe" >"$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
cat "$log"
echo "run_fault: fault=$fault exit=$rc after ${elapsed}s (limit ${max}s)"
status=0
if [ "$rc" -eq 137 ]; then echo "run_fault: FAIL: the job hung until the ${max}s limit"; status=1; fi
if [ "$expected" = nonzero ]; then
  [ "$rc" -ne 0 ] || { echo "run_fault: FAIL: exit code 0 after a fault"; status=1; }
elif [ "$rc" -ne "$expected" ]; then
  echo "run_fault: FAIL: exit code $rc, expected $expected"; status=1
fi
grep -Eq "$regex" "$log" || { echo "run_fault: FAIL: output does not match: $regex"; status=1; }
# No rank may outlive the job.
if pgrep -f "^$probe" >/dev/null 2>&1; then sleep 2; fi
if pgrep -f "^$probe" >/dev/null 2>&1; then echo "run_fault: FAIL: probe processes still running"; status=1; fi
rm -f "$log"
[ "$status" -eq 0 ] && echo "run_fault: PASS"
exit $status
