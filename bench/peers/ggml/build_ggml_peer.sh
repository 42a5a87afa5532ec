#!/usr/bin/env bash
# Builds usmoe's optional llama.cpp/ggml peer (ggml_peer.cc) against ggml's
# CPU sources, which are fetched at build time and never committed here.
# ggml is not packaged in Debian 12; the npm package llama.rn (MIT) ships
# ggml + ggml-cpu sources under package/cpp/ (symbols prefixed lm_ggml_).
#
#   bash bench/peers/ggml/build_ggml_peer.sh      -> prints the binary's path
#
# Env: USMOE_GGML_TGZ  a local llama.rn-0.12.9.tgz instead of `npm pack`
#      USMOE_GGML_DIR  cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/usmoe/ggml-peer)
# Needs npm (or USMOE_GGML_TGZ), gcc/g++ with OpenMP. The peer is compiled
# with -march=native, as llama.cpp's default GGML_NATIVE build is; usmoe's
# own code never is (Highway dispatches at run time).
# Not part of CI: usmoe-bench and tests work without it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.12.9
sha=7069fbf1db95f07cfd9bfbbd0d160be5c0d329c5985868e00c3248338598bca5
dir=${USMOE_GGML_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/usmoe/ggml-peer}
mkdir -p "$dir"
tgz=${USMOE_GGML_TGZ:-$dir/llama.rn-$version.tgz}
if [ ! -f "$tgz" ]; then
  command -v npm >/dev/null || { echo "build_ggml_peer: npm not found (or set USMOE_GGML_TGZ)" >&2; exit 1; }
  (cd "$dir" && npm pack --silent "llama.rn@$version" >/dev/null)
fi
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
  echo "build_ggml_peer: $tgz has sha256 $got, expected $sha" >&2
  exit 1
fi
src=$dir/src-$version
if [ ! -f "$src/.extracted" ]; then
  rm -rf "$src" && mkdir -p "$src"
  tar xzf "$tgz" -C "$src" package/cpp
  touch "$src/.extracted"
fi
cpp=$src/package/cpp
obj=$dir/obj && mkdir -p "$obj"
flags=(-O3 -march=native -fopenmp -DLM_GGML_USE_OPENMP -DLM_GGML_USE_CPU -D_GNU_SOURCE -DNDEBUG
       -I"$cpp" -I"$cpp/ggml-cpu" -w)
# ggml core + the CPU backend for x86-64 (what llama.cpp links for a CPU build).
c_files=(ggml.c ggml-alloc.c ggml-quants.c ggml-cpu/ggml-cpu.c ggml-cpu/quants.c ggml-cpu/arch/x86/quants.c)
cxx_files=(ggml-backend.cpp ggml-backend-reg.cpp ggml-backend-meta.cpp ggml-threading.cpp gguf.cpp
           ggml-cpu/ggml-cpu.cpp ggml-cpu/ops.cpp ggml-cpu/vec.cpp ggml-cpu/binary-ops.cpp
           ggml-cpu/unary-ops.cpp ggml-cpu/traits.cpp ggml-cpu/repack.cpp ggml-cpu/arch/x86/repack.cpp)
pids=()
for f in "${c_files[@]}"; do
  o=$obj/${f//\//_}.o
  [ -f "$o" ] || { gcc -std=gnu11 "${flags[@]}" -c "$cpp/$f" -o "$o" & pids+=($!); }
done
for f in "${cxx_files[@]}"; do
  o=$obj/${f//\//_}.o
  [ -f "$o" ] || { g++ -std=c++17 "${flags[@]}" -c "$cpp/$f" -o "$o" & pids+=($!); }
  if [ "${#pids[@]}" -ge "$(nproc)" ]; then wait "${pids[@]}"; pids=(); fi
done
[ "${#pids[@]}" -eq 0 ] || wait "${pids[@]}"
# An archive, so only the members the peer needs are linked (the backend
# registry's dynamic loading is not).
rm -f "$dir/libggml-peer.a" && ar rcs "$dir/libggml-peer.a" "$obj"/*.o
g++ -std=c++17 -O2 -march=native -fopenmp -I"$cpp" "$here/ggml_peer.cc" "$dir/libggml-peer.a" \
  -o "$dir/usmoe-ggml-peer"
"$dir/usmoe-ggml-peer" check >&2
echo "$dir/usmoe-ggml-peer"
