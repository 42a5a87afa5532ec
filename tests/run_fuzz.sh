#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.cc) with Debian's clang 14
# (-fsanitize=fuzzer,address,undefined), replays every saved crash input in
# tests/fuzz/regressions/<harness>/, then fuzzes each harness for FUZZ_SECONDS
# (default 20) starting from the committed seeds tests/fuzz/corpus_<harness>/.
# Fails on any crash, sanitizer report or contract violation (the harnesses
# __builtin_trap() on a wrong result); a new crash input is copied into
# tests/fuzz/regressions/<harness>/ so that every later run replays it.
#
# Harnesses: fuzz_route (router_create + usmoe_route: sizes, policies, k,
# alpha, groups, masks, raw float bits of X and W, SIMD target, threads) and
# fuzz_select (usmoe_topc_global / usmoe_topk_rows / usmoe_topc_cols).
#
# Longer runs (e.g. nightly, or before a release), one harness per core:
#   FUZZ_SECONDS=3600 tests/run_fuzz.sh
# or by hand, keeping the grown corpus between runs:
#   build-fuzz/fuzz_route -max_len=4096 -jobs=2 -workers=2 -max_total_time=3600 \
#       build-fuzz/corpus_route tests/fuzz/corpus_route
# Minimise a crash:  build-fuzz/fuzz_route -minimize_crash=1 -runs=10000 crash-<sha1>
# Replay one input:  build-fuzz/fuzz_route tests/fuzz/regressions/route/<file>
#
# Env: FUZZ_SECONDS (20), FUZZ_BUILD_DIR (build-fuzz), FUZZ_HARNESSES
# ("route select"), USMOE_JOBS (2, compile jobs), FUZZ_EXTRA_SOURCES (more
# .cc files, absolute paths, to link in).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
start=$SECONDS
SECS=${FUZZ_SECONDS:-20}
B=${FUZZ_BUILD_DIR:-build-fuzz}
HARNESSES=${FUZZ_HARNESSES:-route select}
JOBS=${USMOE_JOBS:-2}
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "run_fuzz: $CXX not found (apt-get install clang libclang-rt-14-dev libomp-dev)" >&2; exit 1; }
command -v ninja >/dev/null || { echo "run_fuzz: ninja not found" >&2; exit 1; }
mkdir -p "$B"

# A small ninja file: library objects compiled once with coverage
# instrumentation (fuzzer-no-link) and the sanitizers, rebuilt when a source
# or a header it includes changes.
FLAGS="-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -fopenmp -I$ROOT -I$ROOT/include -DHWY_WANT_AVX3_DL -DUSMOE_BUILDING=1"
{
  echo "cxxflags = $FLAGS"
  echo "rule cc"
  echo "  command = $CXX \$cxxflags -fsanitize=fuzzer-no-link -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "rule link"
  echo "  command = $CXX \$cxxflags -fsanitize=fuzzer -MMD -MF \$out.d \$in -o \$out -lhwy"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  objs=()
  while IFS= read -r src; do
    obj="obj/${src//\//_}.o"
    objs+=("$obj")
    echo "build $obj: cc $ROOT/$src"
  done < <(find src capi -name '*.cc' ! -name '*_onednn.cc' | LC_ALL=C sort)
  for src in ${FUZZ_EXTRA_SOURCES:-}; do  # absolute paths, e.g. a stub while a part is missing
    obj="obj/extra_$(basename "$src").o"
    objs+=("$obj")
    echo "build $obj: cc $src"
  done
  for h in $HARNESSES; do
    echo "build fuzz_$h: link $ROOT/tests/fuzz/fuzz_$h.cc ${objs[*]}"
  done
} > "$B/build.ninja.new"
cmp -s "$B/build.ninja.new" "$B/build.ninja" 2>/dev/null && rm "$B/build.ninja.new" || mv "$B/build.ninja.new" "$B/build.ninja"
if ! ninja -C "$B" -j "$JOBS" >"$B/build.log" 2>&1; then
  grep -E 'error|FAILED' "$B/build.log" | head -n 20 >&2
  echo "run_fuzz: build failed (full log: $B/build.log)" >&2
  exit 1
fi
echo "run_fuzz: built in $((SECONDS - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
summary=()
for h in $HARNESSES; do
  reg=tests/fuzz/regressions/$h
  if compgen -G "$reg/*" >/dev/null; then
    if "$B/fuzz_$h" "$reg"/* >"$B/replay_$h.log" 2>&1; then
      summary+=("fuzz_$h: $(ls "$reg" | wc -l) regression inputs replayed clean")
    else
      grep -E 'FUZZ_CHECK|ERROR|SUMMARY|Running:' "$B/replay_$h.log" | tail -n 6
      summary+=("fuzz_$h: REGRESSION replay FAILED (log: $B/replay_$h.log)")
      rc=1
    fi
  fi
  work=$B/corpus_$h
  mkdir -p "$work" "$B/artifacts"
  rm -f "$B/artifacts/$h-"*
  t0=$SECONDS
  set +e
  "$B/fuzz_$h" -max_total_time="$SECS" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$B/artifacts/$h-" \
    "$work" "tests/fuzz/corpus_$h" >"$B/fuzz_$h.log" 2>&1
  st=$?
  set -e
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$B/fuzz_$h.log" | grep -Eo '[0-9]+$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$B/fuzz_$h.log" | tail -1 || true)
  crashes=$(find "$B/artifacts" -maxdepth 1 -name "$h-*" | wc -l)
  if [ $st != 0 ] || [ "$crashes" != 0 ]; then
    grep -E 'FUZZ_CHECK|ERROR|SUMMARY|runtime error' "$B/fuzz_$h.log" | head -n 8
    mkdir -p "$reg"
    for f in "$B/artifacts/$h-"*; do
      [ -e "$f" ] || continue
      sum=$(sha1sum < "$f" | cut -c1-40)
      if compgen -G "$reg/*" >/dev/null && sha1sum "$reg"/* | grep -q "^$sum "; then
        echo "run_fuzz: $f is already in $reg"; continue
      fi
      cp "$f" "$reg/"
      echo "run_fuzz: saved $reg/$(basename "$f") (replay: $B/fuzz_$h $reg/$(basename "$f"))"
    done
    summary+=("fuzz_$h: FAILED after $execs execs ($((SECONDS - t0)) s, $crashes crash inputs; log $B/fuzz_$h.log)")
    rc=1
  else
    summary+=("fuzz_$h: $execs execs in $((SECONDS - t0)) s, no crash ($cov)")
  fi
done
echo "run_fuzz: ---- summary ----"
printf 'run_fuzz: %s\n' "${summary[@]}"
echo "run_fuzz: total $((SECONDS - start)) s, $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
