#!/usr/bin/env bash
# wait-jobs.sh [--timeout SECONDS] JOBID...: poll Slurm until every job has ended, print one line
# per job "<jobid> <state> <exit code> <stdout path>", and exit 0 only if all COMPLETED with 0
# (else the first failing job's exit code, or 1 for CANCELLED/TIMEOUT/NODE_FAIL with code 0).
# Why not `sbatch --wait`: Slurm 22.05 polls after 2, 8, 32, 32 ... s, so a 10 s job returns
# after ~40 s, and it waits for one job only. Needs no accounting database: it reads
# `scontrol show job`, which keeps finished jobs for MinJobAge (300 s by default).
set -euo pipefail
limit=0
[ "${1:-}" = --timeout ] && { limit=$2; shift 2; }
[ $# -gt 0 ] || { echo "usage: $0 [--timeout SECONDS] JOBID..." >&2; exit 2; }
start=$SECONDS
rc=0
for jid in "$@"; do
  jid=${jid%%;*}                                    # sbatch --parsable may print "id;cluster"
  while :; do
    info=$(scontrol -o show job "$jid" 2>/dev/null) || { echo "$jid UNKNOWN 1 -"; [ "$rc" = 0 ] && rc=1; continue 2; }
    state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$info")
    case "$state" in
      PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|RESIZING|SIGNALING|STAGE_OUT|"")
        if [ "$limit" -gt 0 ] && [ $((SECONDS - start)) -ge "$limit" ]; then
          echo "$jid $state timeout-waiting -" ; exit 124
        fi
        sleep 0.5 ;;
      *) break ;;
    esac
  done
  read -r code sig < <(sed -n 's/.* ExitCode=\([0-9]*\):\([0-9]*\).*/\1 \2/p' <<<"$info")
  out=$(sed -n 's/.* StdOut=\([^ ]*\).*/\1/p' <<<"$info")
  job_rc=$code
  [ "${sig:-0}" != 0 ] && job_rc=$((128 + sig))
  [ "$state" != COMPLETED ] && [ "$job_rc" = 0 ] && job_rc=1
  echo "$jid $state $job_rc ${out:--}"
  [ "$rc" = 0 ] && rc=$job_rc
done
exit "$rc"
