#!/bin/sh
# Runs one MPI rank as if it lived on its own node: sets PARDIT_NODE_NAME from the rank and
# PARDIT_EMULATED_NODES, a comma list of ranks per node ("3,3,2": ranks 0-2 on node00, 3-5 on
# node01, 6-7 on node02). Used as `mpirun -np N emulate_nodes.sh <test> [args]`.
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}
node=0
first=0
for size in $(echo "${PARDIT_EMULATED_NODES:-}" | tr ',' ' '); do
  if [ "$rank" -lt $((first + size)) ]; then break; fi
  first=$((first + size))
  node=$((node + 1))
done
if [ -n "${PARDIT_EMULATED_NODES:-}" ]; then
  PARDIT_NODE_NAME=$(printf 'node%02d' "$node")
  export PARDIT_NODE_NAME
fi
exec "$@"
