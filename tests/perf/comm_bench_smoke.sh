#!/usr/bin/env bash
# Smoke test of pardit-comm-bench: runs it under mpirun with the MPI backend on small sizes and
# checks that it exits 0, that every (op, size) row reports 0 wrong elements, and that the JSON
# file has one line per row.
# Usage: comm_bench_smoke.sh MPIEXEC NP BENCH [bench args...]
set -euo pipefail
mpiexec=$1 np=$2 bench=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
set +e
"$mpiexec" -np "$np" --oversubscribe --bind-to none "$bench" --backend mpi --json "$dir/out.jsonl" "$@" \
  >"$dir/out.txt" 2>&1
rc=$?
set -e
cat "$dir/out.txt"
[ "$rc" -eq 0 ] || { echo "FAIL: exit code $rc"; exit 1; }
grep -q '^# wrong results: 0$' "$dir/out.txt" || { echo "FAIL: no '# wrong results: 0' line"; exit 1; }
rows=$(grep -c '^ ' "$dir/out.txt" || true)
[ "$rows" -gt 0 ] || { echo "FAIL: no result rows"; exit 1; }
bad=$(awk '/^ / && $NF != 0' "$dir/out.txt" | wc -l)
[ "$bad" -eq 0 ] || { echo "FAIL: $bad rows with wrong results"; exit 1; }
lines=$(wc -l <"$dir/out.jsonl")
[ "$lines" -eq "$rows" ] || { echo "FAIL: $lines JSON lines for $rows rows"; exit 1; }
grep -q '"system":"pardit-comm-bench"' "$dir/out.jsonl" || { echo "FAIL: JSON lacks system"; exit 1; }
grep -q '"exchange_buffers":false' "$dir/out.jsonl" || { echo "FAIL: JSON lacks exchange_buffers"; exit 1; }
# Exchange buffers are NCCL's: asked of the MPI backend, a clear refusal (exit 2), before any work.
set +e
"$mpiexec" -np "$np" --oversubscribe --bind-to none "$bench" --backend mpi --exchange-buffers >"$dir/eb.txt" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q -- "--exchange-buffers needs the NCCL backend" "$dir/eb.txt" ||
  { cat "$dir/eb.txt"; echo "FAIL: --exchange-buffers on MPI gave exit $rc"; exit 1; }
echo "comm_bench_smoke: PASS ($rows rows)"
