#!/usr/bin/env bash
# Cross-builds usmoe for aarch64 (USMOE_MINIMAL: no oneDNN, no benchmarks) and
# runs the C++ GoogleTest suites (usmoe_tests, usmoe_kernel_tests) under
# user-mode qemu on two CPU models:
#   cortex-a72  NEON only        (Highway picks NEON)
#   max         512-bit SVE/SVE2 (Highway picks SVE2)
# then reports the stripped size of the aarch64 and x86-64 MINIMAL libusmoe.so.
# Python and Rust tests are not run for Arm.
#
# Env: ARM_BUILD_DIR (build-arm), X86_MIN_BUILD_DIR (build-minimal),
#      ARM_GTEST_FILTER (gtest filter for the qemu runs; default: everything),
#      ARM_CPUS ("cortex-a72 max"), USMOE_SKIP_X86_SIZE=1 skips the x86 build.
# Installs (as root, only what is missing) g++-aarch64-linux-gnu, qemu-user
# and the arm64 libraries; see notes/toolchain.md §8.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
BUILD=${ARM_BUILD_DIR:-build-arm}
X86_BUILD=${X86_MIN_BUILD_DIR:-build-minimal}
CPUS=${ARM_CPUS:-cortex-a72 max}
FILTER=${ARM_GTEST_FILTER:-*}
JOBS=${USMOE_JOBS:-2}

need_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

export DEBIAN_FRONTEND=noninteractive
host_pkgs=(g++-aarch64-linux-gnu qemu-user binutils-aarch64-linux-gnu)
arm_pkgs=(libhwy-dev:arm64 libgtest-dev:arm64 libgomp1:arm64 libstdc++6:arm64 libc6:arm64)
missing=()
for p in "${host_pkgs[@]}"; do installed "$p" || missing+=("$p"); done
updated=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  need_root dpkg --add-architecture arm64
  need_root apt-get update -qq; updated=1
fi
for p in "${arm_pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run_arm: installing ${missing[*]}"
  [ $updated = 1 ] || need_root apt-get update -qq
  need_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "run_arm: toolchain ready after $((SECONDS - start)) s"

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DUSMOE_MINIMAL=ON -DUSMOE_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target usmoe usmoe_tests usmoe_kernel_tests
echo "run_arm: built after $((SECONDS - start)) s"

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
rc=0
summary=()
for cpu in $CPUS; do
  t0=$SECONDS
  log=$(mktemp)
  set +e
  st=0
  for t in usmoe_tests usmoe_kernel_tests; do
    (cd "$BUILD" && qemu-aarch64 -cpu "$cpu" ./$t --gtest_brief=1 \
       --gtest_filter="$FILTER") >>"$log" 2>&1 || st=1
  done
  set -e
  tail -n 25 "$log"
  ran=$(grep -Eo '^\[==========\] [0-9]+ tests? from [0-9]+ test suites? ran' "$log" | grep -Eo '^\[==========\] [0-9]+' | grep -Eo '[0-9]+$' | paste -sd+ | bc || true)
  passed=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | grep -Eo '[0-9]+$' | paste -sd+ | bc || echo 0)
  failed=$(( ${ran:-0} - ${passed:-0} ))
  line="qemu -cpu $cpu: ${ran:-?} tests ran, ${passed:-0} passed, ${failed:-0} failed, exit $st, $((SECONDS - t0)) s"
  echo "run_arm: $line"
  summary+=("$line")
  [ $st = 0 ] || rc=1
  rm -f "$log"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
so=$(readlink -f "$BUILD/libusmoe.so")
aarch64-linux-gnu-strip -o "$tmp/arm.so" "$so"
summary+=("aarch64 MINIMAL libusmoe.so: $(stat -c %s "$so") bytes, stripped $(stat -c %s "$tmp/arm.so") bytes")

if [ "${USMOE_SKIP_X86_SIZE:-0}" != 1 ]; then
  cmake -S . -B "$X86_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DUSMOE_MINIMAL=ON \
    -DUSMOE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$X86_BUILD" -j"$JOBS" --target usmoe
  so=$(readlink -f "$X86_BUILD/libusmoe.so")
  strip -o "$tmp/x86.so" "$so"
  summary+=("x86-64 MINIMAL libusmoe.so: $(stat -c %s "$so") bytes, stripped $(stat -c %s "$tmp/x86.so") bytes")
fi

echo "run_arm: ---- summary (filter '$FILTER') ----"
printf 'run_arm: %s\n' "${summary[@]}"
echo "run_arm: total $((SECONDS - start)) s, $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
