#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs usmoe-bench on its
# default workload (routing throughput for TC, EC and UNIFIED at an
# OLMoE-like shape). Extra arguments go to usmoe-bench (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target usmoe-bench >/dev/null
exec "$BUILD/usmoe-bench" "$@"
