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

# ---- trust: sanitizers, fuzzing, ABI, Arm (each skippable: USMOE_SKIP_<NAME>=1)
# Measured from clean build dirs on the 2-core machine: asan ~170 s, fuzz ~75 s
# (build ~40 s + 2 harnesses x FUZZ_SECONDS), abi ~15 s, arm ~60 s (full gtest
# suite under qemu cortex-a72 and max, plus the x86 MINIMAL size build).
[ "${USMOE_SKIP_ASAN:-0}" = 1 ] || bash tests/run_asan.sh
[ "${USMOE_SKIP_FUZZ:-0}" = 1 ] || FUZZ_SECONDS=${FUZZ_SECONDS:-15} bash tests/run_fuzz.sh
[ "${USMOE_SKIP_ABI:-0}" = 1 ] || bash tests/run_abi.sh
[ "${USMOE_SKIP_ARM:-0}" = 1 ] || bash tests/run_arm.sh
