#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every suite
# (C++ GoogleTest, Python pytest, Rust cargo test) through ctest.
# Python runs on Debian's /usr/bin/python3 (the one with numpy and pytest),
# or on $PYTHON if set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
BUILD=${BUILD_DIR:-build}
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy, pytest' || { echo "usmoe: $PY lacks numpy/pytest; set PYTHON=" >&2; exit 1; }
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$PY"
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 900
