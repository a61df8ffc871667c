# Sourced by the slurm tests: the repository, the binary, a fresh work folder, and a skip
# (exit 77) when no local cluster answers (start.sh skipped: not root / no apt).
set -euo pipefail
SRC=${PARDIT_SOURCE_DIR:?run through ctest (PARDIT_SOURCE_DIR unset)}
export PARDIT_BINARY=${PARDIT_BINARY:?run through ctest (PARDIT_BINARY unset)}
scontrol ping 2>/dev/null | grep -q 'is UP' || { echo "SKIP: no Slurm controller (slurm/local-cluster/start.sh)"; exit 77; }
WORK=$PWD/work-$(basename "$0" .sh)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"

# A flux-tiny job small enough for 2 shared cores: 64x64 px, 2 steps, 4 prompts (one per rank).
write_config() {
  cat > "$1" <<TOML
model = "flux-tiny"
device = "cpu"
dtype = "fp32"
height = 64
width = 64
steps = 2
num_prompts = 4
seed = 0
TOML
}

# show_job_log FILE: the job's Slurm output, for the ctest log
show_job_log() { echo "---- $1"; cat "$1" 2>/dev/null || echo "(missing)"; echo "----"; }
