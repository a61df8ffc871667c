#!/usr/bin/env bash
# Jobs that cannot run must fail in Slurm's eyes, with pardit's reason in the job log:
# (1) a config pardit rejects (Ulysses degree 3 on 4 ranks) -> FAILED, exit code 2 (bad input);
# (2) a config file that does not exist -> the sbatch script itself exits 2.
source "$(dirname "$0")/lib.sh"
write_config bad.toml
echo 'ulysses_degree = 3' >> bad.toml
fail=0
expect_failure() {   # expect_failure NAME LOG_PATTERN sbatch-args...
  local name=$1 pattern=$2 jid line state code; shift 2
  jid=$(sbatch --parsable "$@")
  line=$("$SRC/slurm/wait-jobs.sh" --timeout 120 "$jid") && { echo "FAIL $name: job $jid succeeded"; fail=1; }
  echo "$name: $line"
  read -r _ state code _ <<<"$line"
  show_job_log "pardit-$jid.out"
  [ "$state" = FAILED ] && [ "$code" = 2 ] || { echo "FAIL $name: Slurm says $state exit $code, want FAILED exit 2"; fail=1; }
  grep -q -E "$pattern" "pardit-$jid.out" || { echo "FAIL $name: log lacks /$pattern/"; fail=1; }
  [ ! -e "pardit-$jid.h5" ] || { echo "FAIL $name: a failed job left pardit-$jid.h5"; fail=1; }
}
expect_failure "bad config" "ulysses" -N 2 --ntasks-per-node=2 "$SRC/slurm/pardit.sbatch" bad.toml
expect_failure "missing config" "no config" -N 1 "$SRC/slurm/pardit.sbatch" does-not-exist.toml
exit "$fail"
