#!/usr/bin/env bash
# start.sh - a real Slurm cluster on this one machine, for pardit's `slurm` tests and for
# trying the sbatch scripts: munged + slurmctld + N slurmd daemons, each slurmd an emulated
# compute node (n1, n2, ...) with its own hostname. Debian 12, run as root.
#
#   bash slurm/local-cluster/start.sh     # installs Slurm/munge if missing, starts, waits for idle
#   bash slurm/local-cluster/stop.sh      # stops exactly what this started
#
# Knobs: PARDIT_SLURM_NODES=2 (1..9), PARDIT_SLURM_CPUS=4 (per node, may exceed real cores),
#        PARDIT_SLURM_MEM_MB=4096 (advertised, not enforced),
#        PARDIT_SLURM_GPUS=0 (>0: fake gpu GRES so --gpus-per-node is accepted; no CUDA behind it).
# Idempotent: stops a previous instance first and wipes Slurm's state (job ids restart at 1).
# Exit 77 (the "skip" code of the tests) when the machine cannot host it (not root, no apt).
set -euo pipefail

NODES=${PARDIT_SLURM_NODES:-2}
CPUS=${PARDIT_SLURM_CPUS:-4}
MEM_MB=${PARDIT_SLURM_MEM_MB:-4096}
GPUS=${PARDIT_SLURM_GPUS:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/paths.sh"

log() { printf '[local-cluster %s] %s\n' "$(date +%T)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || skip "needs root (slurmd runs as root)"
[[ "$NODES" =~ ^[1-9]$ ]] || die "PARDIT_SLURM_NODES must be 1..9"
if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -q "^$CONF_MARKER" "$CONF_DIR/slurm.conf"; then
  die "$CONF_DIR/slurm.conf exists and was not written by this script: this machine has a real Slurm; not touching it"
fi

"$HERE/stop.sh" --quiet || true

# ---- 1. packages (Debian's own; the postinst scripts must not start daemons themselves)
missing=""
for p in slurmctld slurmd slurm-client munge openmpi-bin; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || skip "no apt-get to install:$missing"
  log "installing:$missing"
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -q -o DPkg::Lock::Timeout=300)   # wait for another apt (e.g. scripts/setup.sh)
  "${apt[@]}" update >/dev/null
  "${apt[@]}" install -y --no-install-recommends $missing >/dev/null
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  log "packages installed ($(elapsed) s)"
fi
mkdir -p "$STATE"
echo "$NODES" > "$STATE/nodes"

# ---- 2. munge (a munged we did not start is used, and left alone by stop.sh)
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "using the munged already running"
else
  if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged did not come up"
  cp /run/munge/munged.pid "$STATE/munged.pid"
fi

# ---- 3. node names resolve like on a real cluster (marked block; /etc/hosts may be a
# bind mount, so it is rewritten in place, never replaced)
hosts=$(sed "/^$HOSTS_BEGIN/,/^$HOSTS_END/d" /etc/hosts)
{ printf '%s\n' "$hosts"; echo "$HOSTS_BEGIN"
  for i in $(seq "$NODES"); do echo "127.0.0.1 n$i"; done; echo "$HOSTS_END"; } > /etc/hosts

# ---- 4. configuration. Every slurmd listens on 127.0.0.1 with its own port
# (Debian's Slurm is built with multiple-slurmd support).
install -d -m 0755 "$CONF_DIR" "$SLURMD_SPOOL"
install -d -o slurm -g slurm -m 0755 "$LOG_DIR" "$CTLD_SPOOL"
# A stale spool breaks PMIx ("Cannot bind() UNIX socket .../stepd.slurm.pmix.1.1") once job ids restart.
rm -rf "${CTLD_SPOOL:?}"/* "${SLURMD_SPOOL:?}"/* "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd-n*.log
for i in $(seq "$NODES"); do
  install -d -m 0755 "$SLURMD_SPOOL/n$i"
  rm -rf "/tmp/slurm-n$i"; install -d -m 1777 "/tmp/slurm-n$i"
done

gres_type=""; node_gres=""; rm -f "$CONF_DIR/gres.conf"
if [ "$GPUS" -gt 0 ]; then
  # Slurm drops GPUs without a device file, so each fake GPU is a char device with
  # /dev/null's numbers, kept out of /dev so CUDA never sees it.
  install -d "$STATE/fake-gpu"
  for g in $(seq 0 $((GPUS - 1))); do mknod -m 0666 "$STATE/fake-gpu/gpu$g" c 1 3; done
  gres_type="GresTypes=gpu"; node_gres="Gres=gpu:$GPUS"
  printf '%s\nAutoDetect=off\nNodeName=n[1-%s] Name=gpu File=%s/fake-gpu/gpu[0-%s]\n' \
    "$CONF_MARKER" "$NODES" "$STATE" "$((GPUS - 1))" > "$CONF_DIR/gres.conf"
fi

cat > "$CONF_DIR/slurm.conf" <<CONF
$CONF_MARKER (slurm/local-cluster/start.sh, $NODES nodes). Rewritten on every start.
ClusterName=pardit-local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
StateSaveLocation=$CTLD_SPOOL
SlurmdSpoolDir=$SLURMD_SPOOL/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
# The PMIx plugin makes spmix_appdir_<uid>_<job>.<step> under TmpFS; one per node, or the
# slurmstepds of two emulated nodes collide ("File exists") and srun --mpi=pmix fails.
TmpFS=/tmp/slurm-%n
MpiDefault=pmix
# No cgroups and no accounting database: linuxproc tracking, no sacct.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
# Trust CPUs=/RealMemory= below, not the hardware (slurmd logs the difference).
SlurmdParameters=config_overrides
TaskProlog=$CONF_DIR/task_prolog.sh
MailProg=/bin/true
KillWait=5
$gres_type
$(for i in $(seq "$NODES"); do
  echo "NodeName=n$i NodeHostname=n$i NodeAddr=127.0.0.1 Port=$((17000 + i)) CPUs=$CPUS RealMemory=$MEM_MB $node_gres State=UNKNOWN"
done)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# Runs as the job's user before every task (the batch script too); each "export K=V" it
# prints lands in the task's environment.
cat > "$CONF_DIR/task_prolog.sh" <<'PROLOG'
#!/bin/sh
# Written by slurm/local-cluster/start.sh. The emulated nodes talk over loopback only
# (Open MPI would otherwise pick the machine's real interface).
echo "export OMPI_MCA_btl_tcp_if_include=lo"
echo "export OMPI_MCA_oob_tcp_if_include=lo"
echo "export NCCL_SOCKET_IFNAME=lo"
# Tests submit as root; mpirun refuses root without these.
if [ "$(id -u)" = 0 ]; then
  echo "export OMPI_ALLOW_RUN_AS_ROOT=1"
  echo "export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
fi
PROLOG
chmod 0755 "$CONF_DIR/task_prolog.sh"

# ---- 5. daemons
/usr/sbin/slurmctld
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld does not answer: see $LOG_DIR/slurmctld.log"
cp /run/slurmctld.pid "$STATE/slurmctld.pid"
# Each slurmd gets its own UTS namespace, so its tasks see hostname nI. Open MPI names its
# shared-memory segments after the hostname: two "nodes" both called after this machine map
# the same segment and their ranks crash in MPI_Allreduce.
unshare --uts true 2>/dev/null || die "unshare --uts is not permitted here; emulated nodes need their own hostname"
for i in $(seq "$NODES"); do
  unshare --uts /bin/sh -c "hostname n$i && exec /usr/sbin/slurmd -N n$i"
done
for i in $(seq "$NODES"); do
  for _ in $(seq 50); do [ -s "/run/slurmd-n$i.pid" ] && break; sleep 0.1; done
  cp "/run/slurmd-n$i.pid" "$STATE/slurmd-n$i.pid" 2>/dev/null || die "slurmd n$i did not start: see $LOG_DIR/slurmd-n$i.log"
done

# ---- 6. wait until every node is idle
for _ in $(seq 300); do
  states=$(sinfo -h -N -o "%N %T" 2>/dev/null | sort -u || true)
  [ "$(grep -c ' idle$' <<<"$states" || true)" -ge "$NODES" ] && break
  grep -q -E ' (inval|drain)' <<<"$states" && { sinfo -N -o "%N %T %E"; die "a node failed to register; see $LOG_DIR/"; }
  sleep 0.2
done
[ "$(sinfo -h -N -t idle -o %N | sort -u | wc -l)" -ge "$NODES" ] || { sinfo -N -o "%N %T %E"; die "nodes not idle after 60 s; see $LOG_DIR/"; }
log "Slurm $(sinfo -V | awk '{print $2}') up: n[1-$NODES] idle, $CPUS CPUs each, MpiDefault=pmix ($(elapsed) s)"
log "logs: $LOG_DIR/   stop: bash $HERE/stop.sh"
