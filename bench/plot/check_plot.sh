#!/usr/bin/env bash
# ctest usmoe_bench_plot: usmoe-bench --plot on a tiny preset writes both
# pictures, PNG and SVG, non-empty and well-formed. Exit 77 (skipped) when
# Debian's python3-matplotlib is missing.
set -euo pipefail
bench=$1 dir=$2
if ! /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no matplotlib (apt-get install python3-matplotlib)"
  exit 77
fi
rm -rf "$dir"
"$bench" --preset edge --tokens 16,64 --min-time 0.01 --min-runs 2 --no-torch --plot "$dir" >/dev/null
for f in throughput assignment; do
  test -s "$dir/$f.png" || { echo "missing $dir/$f.png"; exit 1; }
  test -s "$dir/$f.svg" || { echo "missing $dir/$f.svg"; exit 1; }
  head -c 8 "$dir/$f.png" | od -An -c | grep -q 'P   N   G' || { echo "$f.png is not a PNG"; exit 1; }
  grep -q '<svg' "$dir/$f.svg" || { echo "$f.svg is not an SVG"; exit 1; }
done
echo "plots ok: $dir/{throughput,assignment}.{png,svg}"
