#!/usr/bin/env bash
# Installs every dependency pardit needs on Debian 12 (CPU build): Debian packages and the
# LibTorch that ships inside the `torch` wheel from PyPI. Idempotent: a second run only checks.
set -euo pipefail

TORCH_VERSION=2.11.0            # pinned to match the GPU machines
DIFFUSERS_VERSION=0.42.1        # reference implementation for tests/reference

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  openmpi-bin libopenmpi-dev libpmix-dev
  libhdf5-dev hdf5-tools
  libhwloc-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
have_torch=$($PY -c 'import torch;print(torch.__version__.split("+")[0])' 2>/dev/null || true)
if [ "$have_torch" != "$TORCH_VERSION" ]; then
  # The full wheel with its CUDA runtime wheels: `import torch` (for the diffusers reference)
  # needs them even on a CPU machine. ~3 GB, about a minute.
  echo "setup: installing torch $TORCH_VERSION"
  $PY -m pip install -q --root-user-action=ignore "torch==$TORCH_VERSION"
fi
$PY - <<PY || $PY -m pip install -q --root-user-action=ignore "diffusers==$DIFFUSERS_VERSION" "transformers==5.24.0" safetensors h5py numpy matplotlib
import diffusers, transformers, safetensors, h5py, numpy, matplotlib
assert diffusers.__version__ == "$DIFFUSERS_VERSION"
PY
echo "setup: done"
