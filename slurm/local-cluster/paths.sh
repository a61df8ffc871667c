# Shared by start.sh and stop.sh: where the local cluster keeps its files.
STATE=/run/pardit-local-slurm          # pids of what start.sh started; stop.sh reads them
CONF_DIR=/etc/slurm
CONF_MARKER="# pardit-local-cluster"  # first line of every config file start.sh writes
LOG_DIR=/var/log/slurm
CTLD_SPOOL=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
HOSTS_BEGIN="# BEGIN pardit-local-cluster"
HOSTS_END="# END pardit-local-cluster"
