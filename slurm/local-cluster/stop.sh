#!/usr/bin/env bash
# stop.sh - stop what start.sh started, by the PIDs it recorded: cancel jobs, stop the
# slurmds (then any slurmstepd left over), slurmctld, and munged only if start.sh started it;
# drop the /etc/hosts block and the generated config. Safe when nothing runs.
# Usage: stop.sh [--quiet]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/paths.sh"
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
log() { [ "$QUIET" = 1 ] || printf '[local-cluster %s] %s\n' "$(date +%T)" "$*"; }

# running PID EXE: PID is alive and runs EXE. Debian's /usr/sbin/slurmd etc. are alternatives
# links to *-wlm binaries, so compare resolved paths.
running() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$2")" ]; }

# stop_pidfile FILE EXE DAEMON_PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL. The daemon's
# own pidfile goes too: a stale /run/slurmctld.pid makes `apt-get remove slurmctld` fail.
stop_pidfile() {
  local f=$1 exe=$2 own=$3 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if running "$pid" "$exe"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 150); do running "$pid" "$exe" || break; sleep 0.1; done
    if running "$pid" "$exe"; then kill -KILL "$pid"; log "killed -9 ${exe##*/} ($pid)"; else log "stopped ${exe##*/} ($pid)"; fi
  fi
  [ "$(cat "$own" 2>/dev/null)" = "$pid" ] && rm -f "$own"
  rm -f "$f"
}

[ -d "$STATE" ] || { log "nothing to stop"; exit 0; }

# 1. jobs first, while the daemons can still end their steps cleanly
if [ -s "$STATE/slurmctld.pid" ] && timeout 10 squeue -h >/dev/null 2>&1; then
  jobs=$(squeue -h -o %i)
  if [ -n "$jobs" ]; then
    log "cancelling jobs: $(echo $jobs)"; scancel $jobs
    for _ in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi

# 2. slurmds, then slurmstepds they left behind (only ours can exist: start.sh refuses to run
#    beside a real Slurm installation)
for f in "$STATE"/slurmd-n*.pid; do [ -e "$f" ] && stop_pidfile "$f" /usr/sbin/slurmd "/run/${f##*/}"; done
for p in /proc/[0-9]*; do
  running "${p#/proc/}" /usr/sbin/slurmstepd || continue
  log "killing leftover slurmstepd ${p#/proc/}"; kill -KILL "${p#/proc/}"
done

# 3. slurmctld, then munged if it is ours
stop_pidfile "$STATE/slurmctld.pid" /usr/sbin/slurmctld /run/slurmctld.pid
stop_pidfile "$STATE/munged.pid" /usr/sbin/munged /run/munge/munged.pid

# 4. the /etc/hosts block (rewritten in place: it may be a bind mount) and generated files
if grep -q "^$HOSTS_BEGIN" /etc/hosts; then
  hosts=$(sed "/^$HOSTS_BEGIN/,/^$HOSTS_END/d" /etc/hosts)
  printf '%s\n' "$hosts" > /etc/hosts
fi
for f in slurm.conf gres.conf; do
  grep -q "^$CONF_MARKER" "$CONF_DIR/$f" 2>/dev/null && rm -f "$CONF_DIR/$f"
done
rm -f "$CONF_DIR/task_prolog.sh"
rm -rf /tmp/slurm-n[1-9] "$STATE"
log "stopped"
