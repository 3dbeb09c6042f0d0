#!/usr/bin/env bash
# Installs attnscope's build and test dependencies from Debian's packages (and the Python
# readers the interop tests use from PyPI). Safe to run again: it skips what is present.
set -euo pipefail
PKGS=(cmake ninja-build g++ pkg-config
      libhdf5-dev hdf5-tools nlohmann-json3-dev libgtest-dev libyaml-cpp-dev
      libimgui-dev libglfw3-dev libgl-dev libstb-dev
      xvfb xauth libgl1-mesa-dri
      python3 python3-h5py python3-numpy binutils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "attnscope: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Python on PATH may not be Debian's (pyenv): give it real readers too where PyPI is reachable.
if ! python3 -c 'import h5py, numpy' 2>/dev/null; then
  python3 -m pip install -q h5py numpy 2>/dev/null || echo "attnscope: pip could not install h5py/numpy (interop tests will use what is there)"
fi
python3 -c 'import ml_dtypes, safetensors' 2>/dev/null || python3 -m pip install -q ml_dtypes safetensors 2>/dev/null || true
# sdpa:cudnn builds against NVIDIA's header-only cuDNN frontend from PyPI (never vendored); CMake
# finds the wheel's include/ without importing the package.
python3 -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("cudnn") else 1)' 2>/dev/null ||
  python3 -m pip install -q --no-deps nvidia-cudnn-frontend 2>/dev/null ||
  echo "attnscope: pip could not install nvidia-cudnn-frontend (sdpa:cudnn will not be built)"
