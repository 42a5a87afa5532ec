#!/usr/bin/env bash
# usmoe against llama.cpp's ggml on the issue's shapes, same machine, same
# thread count, back to back (two processes, not interleaved: run on a quiet
# machine and compare medians).
#
#   bash bench/peers/ggml/compare_ggml.sh [threads]       (default 2)
#
# MoE layer, OLMoE-like d 2048, N 64, k 8, f 1024 SwiGLU, T = 1, 32, 512,
# f32 and bf16 weights: usmoe = `usmoe-bench --stage moe --policy tc`
# (routing + usmoe_experts_forward, AUTO backend), ggml = the expert block
# of llama.cpp's build_moe_ffn (mul_mat_id x3, swiglu, weights, k-1 adds)
# on precomputed routes, so ggml's figure leaves routing out.
# Routing from scores, 4096 x 64, k = 8: usmoe = usmoe-bench's select rows
# (scores -> plan), ggml = argsort_top_k per token (tc) and over the
# flattened matrix with c = k*T (the paper's router; unified).
# Builds the peer first (build_ggml_peer.sh: needs npm or USMOE_GGML_TGZ).
set -euo pipefail
cd "$(dirname "$0")/../../.."
threads=${1:-2}
BUILD=${BUILD_DIR:-build}
peer=$(bash bench/peers/ggml/build_ggml_peer.sh)
cmake --build "$BUILD" --target usmoe-bench >/dev/null
bench=("$BUILD/usmoe-bench" --no-torch --threads "$threads")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ms_of() {  # median of a usmoe-bench JSON entry, in ms
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
for b in data["benchmarks"]:
    if b["name"].startswith(sys.argv[2]):
        print("%.4f" % (b["real_time"] / 1e6)); break
else:
    sys.exit("no entry " + sys.argv[2])
PY
}
ratio() { /usr/bin/python3 -c "print('%.2fx' % ($1 / $2))"; }

echo "usmoe vs ggml (llama.rn 0.12.9 ggml-cpu, -march=native, OpenMP), $threads threads"
printf '%-28s %12s %12s %8s\n' "case" "usmoe ms" "ggml ms" "ggml/usmoe"
for dt in f32 bf16; do
  "${bench[@]}" --stage moe --policy tc --dtype "$dt" --tokens 1,32,512 --json "$tmp/moe_$dt.json" >/dev/null
  for T in 1 32 512; do
    runs=$([ "$T" = 512 ] && echo 7 || echo 21)
    g=$("$peer" moe "$T" 2048 64 8 1024 "$dt" "$threads" "$runs" | sed -E 's/^median_ms=([0-9.]+).*/\1/')
    u=$(ms_of "$tmp/moe_$dt.json" "usmoe/moe/tc/T:$T/")
    printf '%-28s %12s %12s %8s\n' "moe $dt T=$T" "$u" "$g" "$(ratio "$g" "$u")"
  done
done
"${bench[@]}" --stage select --tokens 4096 --json "$tmp/sel.json" >/dev/null
g=$("$peer" topk 4096 64 8 "$threads" 21 | sed -E 's/^median_ms=([0-9.]+).*/\1/')
u=$(ms_of "$tmp/sel.json" "usmoe/select/tc/")
printf '%-28s %12s %12s %8s\n' "select tc 4096x64 k=8" "$u" "$g" "$(ratio "$g" "$u")"
g=$("$peer" topc 4096 64 32768 "$threads" 11 | sed -E 's/^median_ms=([0-9.]+).*/\1/')
u=$(ms_of "$tmp/sel.json" "usmoe/select/unified/")
printf '%-28s %12s %12s %8s\n' "select unified c=32768" "$u" "$g" "$(ratio "$g" "$u")"
