#!/usr/bin/env bash
# ABI check of libusmoe.so against the committed baseline:
#   tests/abi/symbols.txt  the sorted exported dynamic symbols (all usmoe_*)
#   tests/abi/usmoe.abi    abidw's description of the ABI (functions, types)
#   tests/abi/suppressions.txt  the opaque handles' private layouts, ignored
# Fails when a symbol is added or removed, anything other than usmoe_* is
# exported, or abidiff reports a change to an existing function or type
# (removed function, struct layout, parameter type, SONAME, ...). New
# functions are allowed by abidiff (--no-added-syms) but still show up in
# the symbol list diff, so that an addition is always a deliberate update.
#
# Usage: tests/run_abi.sh           check
#        tests/run_abi.sh --update  rewrite the baseline from this build
# Env:   BUILD_DIR  an existing build to check (must hold libusmoe.so built
#                   with -g, e.g. RelWithDebInfo). Default: build-abi/, a
#                   RelWithDebInfo build of the library alone, because the
#                   Release build has no DWARF and abidiff then sees only
#                   symbol names, not types.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1
JOBS=${USMOE_JOBS:-2}
if [ -n "${BUILD_DIR:-}" ]; then
  B=$BUILD_DIR
  [ -e "$B/libusmoe.so" ] || cmake --build "$B" -j"$JOBS" --target usmoe
else
  B=build-abi
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSMOE_BUILD_TESTS=OFF \
    -DUSMOE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$B" -j"$JOBS" --target usmoe
fi
LIB=$(readlink -f "$B/libusmoe.so")

if ! command -v abidiff >/dev/null || ! command -v abidw >/dev/null; then
  echo "run_abi: installing abigail-tools"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends abigail-tools >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends abigail-tools >/dev/null; }
fi

rc=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Defined dynamic symbols, version suffix (@@USMOE_0) dropped; the version
# node itself (USMOE_0, an absolute symbol) is checked apart.
nm -D --defined-only "$LIB" | awk '$2 != "A" {print $NF}' | sed 's/@.*//' | LC_ALL=C sort -u > "$tmp/symbols.txt"
if ! nm -D --defined-only "$LIB" | grep -q ' A USMOE_0$'; then
  echo "run_abi: FAIL: symbols are not versioned USMOE_0 (cmake/usmoe.map not applied?)"; rc=1
fi
others=$(grep -v '^usmoe_' "$tmp/symbols.txt" || true)
if [ -n "$others" ]; then
  echo "run_abi: FAIL: libusmoe.so exports symbols outside the C API:"
  echo "$others" | sed 's/^/  /'
  rc=1
fi
if ! readelf -d "$LIB" | grep -q 'SONAME.*libusmoe\.so\.'; then
  echo "run_abi: FAIL: no SONAME libusmoe.so.<major>"; rc=1
fi
abidw --no-corpus-path --exported-interfaces-only --type-id-style hash \
  --out-file "$tmp/usmoe.abi" "$LIB"
if ! grep -q '<function-decl' "$tmp/usmoe.abi"; then
  echo "run_abi: FAIL: abidw saw no function types in $LIB (built without -g?)"; rc=1
fi

if [ $UPDATE = 1 ]; then
  [ $rc = 0 ] || { echo "run_abi: not updating the baseline from a bad library"; exit 1; }
  cp "$tmp/symbols.txt" tests/abi/symbols.txt
  cp "$tmp/usmoe.abi" tests/abi/usmoe.abi
  echo "run_abi: baseline updated: tests/abi/symbols.txt ($(wc -l < tests/abi/symbols.txt) symbols), tests/abi/usmoe.abi"
  echo "run_abi: commit both together with the header change (and its USMOE_VERSION bump)"
  exit 0
fi

[ -f tests/abi/symbols.txt ] && [ -f tests/abi/usmoe.abi ] ||
  { echo "run_abi: FAIL: no baseline; create it with tests/run_abi.sh --update"; exit 1; }
if ! diff -u tests/abi/symbols.txt "$tmp/symbols.txt" > "$tmp/sym.diff"; then
  echo "run_abi: FAIL: exported symbols differ from tests/abi/symbols.txt (- baseline, + now):"
  grep -E '^[-+][^-+]' "$tmp/sym.diff" | sed 's/^/  /'
  rc=1
fi
set +e
abidiff --no-added-syms --suppressions tests/abi/suppressions.txt tests/abi/usmoe.abi "$LIB" > "$tmp/abidiff.txt" 2>&1
st=$?
set -e
if [ $st != 0 ]; then
  echo "run_abi: FAIL: abidiff exit $st (bits: 1 error, 2 usage, 4 change, 8 incompatible change):"
  sed 's/^/  /' "$tmp/abidiff.txt"
  rc=1
fi
if [ $rc = 0 ]; then
  echo "run_abi: PASS: $(wc -l < "$tmp/symbols.txt") usmoe_* symbols, ABI identical to tests/abi/usmoe.abi ($((SECONDS - start)) s)"
else
  cat <<'MSG'
run_abi: If this change is intended:
  - breaking (removed/changed function or type): bump USMOE_VERSION_MAJOR in
    include/usmoe/usmoe.h and project(VERSION) in CMakeLists.txt (new SONAME);
  - addition only: bump USMOE_VERSION_MINOR (and project(VERSION));
  then regenerate the baseline and commit it with the change:
      tests/run_abi.sh --update
MSG
fi
exit $rc
