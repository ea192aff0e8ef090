#!/usr/bin/env bash
# Installs what Rmlx needs on a Debian 12 machine: R and R packages from
# Debian, OpenBLAS, the Fashion-MNIST and Jane Austen data packages, and a
# project-local Python virtual environment holding the pinned MLX wheel.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${RMLX_VENV:-$root/.venv}"
mlx_pin="mlx[cpu]==0.32.4"

debian_packages=(
  r-base-dev r-cran-cpp11 r-cran-testthat r-cran-cli r-cran-withr
  r-cran-rlang r-cran-decor r-cran-processx
  libopenblas0-pthread libopenblas-dev zlib1g-dev
  dataset-fashion-mnist r-cran-janeaustenr
  cmake g++ make python3-venv doctest-dev
)

missing=()
for pkg in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The interpreter that creates the virtual environment. PYTHON is not used
# here: the driver points it at the environment's own interpreter.
base_python="${RMLX_BASE_PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating the virtual environment $venv"
  "$base_python" -m venv "$venv"
fi

if ! "$venv/bin/python" -c "import mlx.core as mx; assert mx.__version__ == '0.32.4'" 2>/dev/null; then
  echo "setup: installing $mlx_pin"
  "$venv/bin/pip" install -q "$mlx_pin"
fi

# PyTorch is only for reference values and benchmarks; skip with RMLX_NO_TORCH=1.
if [[ "${RMLX_NO_TORCH:-0}" != 1 ]] && ! "$venv/bin/python" -c "import torch, safetensors" 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU) for reference values and benchmarks"
  "$venv/bin/pip" install -q "torch==2.13.0" numpy safetensors || \
    echo "setup: torch could not be installed; benchmarks will skip PyTorch"
fi
echo "setup: done"
