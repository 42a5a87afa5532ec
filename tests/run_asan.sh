#!/usr/bin/env bash
# Builds the C++ GoogleTest suite with AddressSanitizer + UndefinedBehavior-
# Sanitizer (CMakePresets.json preset "asan": GCC, RelWithDebInfo,
# -fsanitize=address,undefined -fno-sanitize-recover=undefined, into build-asan/)
# and runs it with leak detection on. Any ASan/UBSan/LSan report fails the run.
# Only the usmoe_tests and usmoe_kernel_tests targets (and the library) are
# built.
#
# Env: ASAN_GTEST_FILTER (gtest filter, default everything), USMOE_JOBS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
JOBS=${USMOE_JOBS:-2}
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$JOBS" --target usmoe_tests usmoe_kernel_tests
echo "run_asan: built in $((SECONDS - start)) s"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
st=0
for t in usmoe_tests usmoe_kernel_tests; do
  (cd build-asan && ./$t --gtest_brief=1 --gtest_filter="${ASAN_GTEST_FILTER:-*}") 2>&1 | tee -a "$log" | tail -n 40
  [ "${PIPESTATUS[0]}" = 0 ] || st=1
done
set -e
reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" || true)
ran=$(grep -Eo '^\[==========\] [0-9]+ tests? from [0-9]+ test suites? ran' "$log" | grep -Eo '^\[==========\] [0-9]+' | grep -Eo '[0-9]+$' | paste -sd+ | bc || true)
passed=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | grep -Eo '[0-9]+$' | paste -sd+ | bc || echo 0)
echo "run_asan: ${ran:-?} tests ran, ${passed} passed, $reports sanitizer reports, exit $st, total $((SECONDS - start)) s"
[ "$st" = 0 ] && [ "$reports" = 0 ] && echo "run_asan: PASS" || { echo "run_asan: FAIL"; exit 1; }
