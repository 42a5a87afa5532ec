#!/usr/bin/env bash
# ctest ggml_peer_check: the ggml peer, when it has been built
# (build_ggml_peer.sh), still computes the MoE block it claims to time:
# its `check` mode compares ggml's output with a double-precision reference
# (f32 within 1e-5, bf16 within 2e-2, normalised). Exit 77 (skipped) when
# the peer was never built: it needs npm, which CI does not use.
set -euo pipefail
peer=${USMOE_GGML_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/usmoe/ggml-peer}/usmoe-ggml-peer
if [ ! -x "$peer" ]; then
  echo "ggml peer not built ($peer): bash bench/peers/ggml/build_ggml_peer.sh"
  exit 77
fi
"$peer" check
