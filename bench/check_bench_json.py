#!/usr/bin/python3
"""Checks a usmoe-bench --json file: the Google Benchmark schema, positive
figures, and internal consistency (throughput x time = work, and the work
each row claims is the work its shape implies).

Usage: check_bench_json.py FILE N d k STAGES
  N, d, k: the shape the run used (T is read from each row's name);
  STAGES: comma-separated stages that must have usmoe rows (e.g.
  scores,select,route or moe).
Runs on Debian's /usr/bin/python3; needs only the standard library.
"""
import json
import math
import sys


def moe_pairs(policy, T, N, k):
    """Selected (token, expert) pairs of one group, as the router defines them."""
    if policy == "tc":
        return T * k
    if policy == "ec":
        return N * min(T, math.ceil(k * T / N))
    return min(T * N, math.floor(k * T + 0.5))


def main():
    path, N, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    stages = sys.argv[5].split(",")
    doc = json.load(open(path))
    ctx, rows = doc["context"], doc["benchmarks"]
    for key in ("date", "num_cpus", "library_build_type", "usmoe", "simd_target", "threads"):
        assert key in ctx, f"context lacks {key}"
    assert rows, "no benchmarks"
    rate_key = {"logits": "flops_per_second", "route": "tokens_per_second",
                "moe": "flops_per_second"}
    seen = set()
    for b in rows:
        for key in ("name", "run_name", "run_type", "iterations", "real_time", "cpu_time",
                    "time_unit"):
            assert key in b, f"{b.get('name')}: lacks {key}"
        assert b["time_unit"] == "ns" and b["run_type"] == "iteration", b["name"]
        assert b["iterations"] >= 1, b["name"]
        assert 0 < b["min_real_time"] <= b["real_time"] <= b["max_real_time"], b["name"]
        parts = b["name"].split("/")
        side, stage = parts[:2]
        fields = dict(p.split(":", 1) for p in parts[2:] if ":" in p)
        T = int(fields["T"])
        assert int(fields["N"]) == N and int(fields["d"]) == d, b["name"]
        if stage == "moe":
            pairs = moe_pairs(parts[2], T, N, k)
            f, S, fs = b["f"], b["shared"], b["shared_hidden"]
            want = 6.0 * d * (f * pairs + fs * S * T)
            assert b["weight_bytes"] > 0, b["name"]
        else:
            want = {"logits": 2.0 * T * N * d, "scores": T * N, "select": T * N,
                    "route": T}[stage]
        assert abs(b["work"] - want) <= 1e-9 * want, f"{b['name']}: work {b['work']} != {want}"
        seen.add((side, stage))
        rate = b.get(rate_key.get(stage, "cells_per_second"), b.get("items_per_second"))
        assert rate and rate > 0, f"{b['name']}: no positive rate"
        # throughput x median time = the work the row did (within rounding).
        done = rate * b["real_time"] * 1e-9
        assert abs(done - want) <= 1e-6 * want + 1e-9, \
            f"{b['name']}: rate x time = {done}, work = {want}"
        if side == "usmoe":
            for key in ("baseline_over_ours", "peer_over_ours"):
                if key in b:
                    assert b[key] > 0, b["name"]
        if side == "torch":
            assert b["check"], f"{b['name']}: a peer row without its check"
    for stage in stages:
        assert ("usmoe", stage) in seen, f"no usmoe {stage} row"
    print(f"{path}: {len(rows)} rows consistent (rate x time = work, min <= median <= max)")


if __name__ == "__main__":
    main()
