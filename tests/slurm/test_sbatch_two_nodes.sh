#!/usr/bin/env bash
# slurm/pardit.sbatch, submitted with sbatch, runs flux-tiny on 2 nodes x 2 ranks (data
# parallel 4); the HDF5 file names both nodes and holds complete timings. Launcher: $1
# (srun, the default, or mpirun: the documented alternative).
source "$(dirname "$0")/lib.sh"
launcher=${1:-srun}
write_config job.toml
t0=$SECONDS
jid=$(PARDIT_LAUNCHER=$launcher sbatch --parsable -N 2 --ntasks-per-node=2 \
      "$SRC/slurm/pardit.sbatch" job.toml --dp-degree 4)
rc=0; "$SRC/slurm/wait-jobs.sh" --timeout 300 "$jid" || rc=$?
show_job_log "pardit-$jid.out"
echo "job $jid ($launcher): exit $rc after $((SECONDS - t0)) s"
[ "$rc" = 0 ] || { echo "FAIL: job did not complete"; exit 1; }
grep -q "pardit exit 0" "pardit-$jid.out" || { echo "FAIL: no success line in the job log"; exit 1; }
python3 "$SRC/tests/slurm/check_output.py" "pardit-$jid.h5" --world 4 --nodes n1,n2
