#!/usr/bin/env bash
# ctest fixture: `cluster.sh start` brings the local Slurm cluster up (installing Slurm/munge
# if needed; exit 77 = skip when the machine cannot), `cluster.sh stop` takes it down and
# fails if any Slurm or munge daemon it started is still alive.
set -euo pipefail
SRC=${PARDIT_SOURCE_DIR:?run through ctest}
case "${1:-}" in
  start) exec bash "$SRC/slurm/local-cluster/start.sh" ;;
  stop)
    bash "$SRC/slurm/local-cluster/stop.sh"
    left=""
    for exe in slurmctld slurmd slurmstepd; do
      real=$(readlink -f "/usr/sbin/$exe" 2>/dev/null) || continue
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$real" ] && left="$left $exe(${p#/proc/})"
      done
    done
    [ -z "$left" ] || { echo "FAIL: still running after stop:$left"; exit 1; }
    echo "no Slurm daemons left" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
