#!/usr/bin/python3
"""Checks a usmoe-bench --json file: the Google Benchmark schema, positive
figures, and internal consistency (throughput x time = work).

Usage: check_bench_json.py FILE T N d   (the shape the run used).
Runs on Debian's /usr/bin/python3; needs only the standard library.
"""
import json
import sys


def main():
    path, T, N, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    doc = json.load(open(path))
    ctx, rows = doc["context"], doc["benchmarks"]
    for key in ("date", "num_cpus", "library_build_type", "usmoe", "simd_target", "threads"):
        assert key in ctx, f"context lacks {key}"
    assert rows, "no benchmarks"
    work = {"logits": 2.0 * T * N * d, "scores": T * N, "select": T * N, "route": T}
    rate_key = {"logits": "flops_per_second", "route": "tokens_per_second"}
    seen = set()
    for b in rows:
        for key in ("name", "run_name", "run_type", "iterations", "real_time", "cpu_time",
                    "time_unit"):
            assert key in b, f"{b.get('name')}: lacks {key}"
        assert b["time_unit"] == "ns" and b["run_type"] == "iteration", b["name"]
        assert b["iterations"] >= 1, b["name"]
        assert 0 < b["min_real_time"] <= b["real_time"] <= b["max_real_time"], b["name"]
        side, stage = b["name"].split("/")[:2]
        seen.add((side, stage))
        rate = b.get(rate_key.get(stage, "cells_per_second"), b.get("items_per_second"))
        assert rate and rate > 0, f"{b['name']}: no positive rate"
        # throughput x median time = the work the row did (within rounding).
        done = rate * b["real_time"] * 1e-9
        assert abs(done - work[stage]) <= 1e-6 * work[stage] + 1e-9, \
            f"{b['name']}: rate x time = {done}, work = {work[stage]}"
        if side == "usmoe" and "baseline_over_ours" in b:
            assert b["baseline_over_ours"] > 0, b["name"]
    for stage in ("scores", "select", "route"):
        assert ("usmoe", stage) in seen, f"no usmoe {stage} row"
    print(f"{path}: {len(rows)} rows consistent (rate x time = work, min <= median <= max)")


if __name__ == "__main__":
    main()
