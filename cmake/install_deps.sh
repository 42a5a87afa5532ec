#!/usr/bin/env bash
# Installs the Debian 12 packages usmoe needs, only those missing.
# Usage: cmake/install_deps.sh [extra packages...]
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libhwy-dev libdnnl-dev ocl-icd-opencl-dev
      opencl-c-headers libgtest-dev libbenchmark-dev libomp-dev python3 python3-numpy
      python3-pytest python3-matplotlib "$@")
# cargo: rustup's when present, else Debian's (the crate has no dependencies).
command -v cargo >/dev/null 2>&1 || pkgs+=(cargo)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "usmoe: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "usmoe: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
