#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs the
# README's C example twice, as a user would: through find_package(usmoe)
# and through pkg-config. Usage: run_install_test.sh BUILD_DIR EXAMPLE_C
set -euo pipefail
build=$1 example=$2
here=$(cd "$(dirname "$0")" && pwd)
prefix="$build/install-test"
rm -rf "$prefix" "$build/consumer-cmake"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$here" -B "$build/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DEXAMPLE_SOURCE="$example" >/dev/null
cmake --build "$build/consumer-cmake" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$build/consumer-cmake/consumer_cmake" | grep -q "expert 2 <- token 2"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c99 "$example" $(pkg-config --cflags --libs usmoe) -o "$build/consumer-pkgconfig"
LD_LIBRARY_PATH="$prefix/lib" "$build/consumer-pkgconfig" | grep -q "expert 2 <- token 2"
echo "install test: find_package(usmoe) and pkg-config consumers built and ran"
