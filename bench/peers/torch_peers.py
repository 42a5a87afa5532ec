#!/usr/bin/python3
"""PyTorch peers of usmoe-bench, run by it as a subprocess.

usmoe-bench writes the inputs as raw little-endian files and one job per line
of JOBS ("key=value" pairs). This script times each job the way usmoe-bench
times its own cells (one warm-up call, then calls until at least --min-time
seconds and --min-runs calls; median, min, max of the wall time), writes the
job's output to its `out` file, and one line per job to RESULTS:
    <id> ok <median_ns> <min_ns> <max_ns> <runs> <label>
    <id> error <message>

Jobs:
  kind=select policy=tc|ec|unified T N k|capacity|budget scores=FILE
      The paper's released router and its TC/EC counterparts on the same
      unified scores U (T x N f32): torch.topk over the flattened U
      (unified), per row (tc), per column (ec). out: the selected indices,
      int64, sorted ascending per row (tc), per column (ec) or overall.
  kind=moe policy T N d f S fs k alpha dtype x wg w1 w3 w2 [sw1 sw3 sw2]
      A HuggingFace-style MoE block: gate matmul, U = (1-alpha) softmax +
      alpha sigmoid*2/N, the policy's selection, then a Python loop over the
      experts (gather, two matmuls, SwiGLU, matmul, index_add_ of the
      gate-weighted rows) plus the shared experts. out: y (T x d f32).

Needs numpy and torch from Debian (/usr/bin/python3). If torch cannot be
imported, every job reports "skipped (...)".
"""
import math
import sys
import time


def parse_jobs(path):
    jobs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                jobs.append(dict(kv.split("=", 1) for kv in line.split()))
    return jobs


def timed(fn, min_time, min_runs):
    fn()  # warm-up
    times = []
    total = 0.0
    while total < min_time or len(times) < min_runs:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
        # The same cut-off as usmoe-bench: a slow cell stops after 3 runs.
        if len(times) >= 3 and total >= max(1.0, 10 * min_time):
            break
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return med * 1e9, times[0] * 1e9, times[-1] * 1e9, n


def main():
    jobs_path, results_path = sys.argv[1], sys.argv[2]
    opts = dict(a.lstrip("-").split("=", 1) for a in sys.argv[3:])
    threads = int(opts.get("threads", "1"))
    min_time = float(opts.get("min-time", "0.3"))
    min_runs = int(opts.get("min-runs", "10"))
    jobs = parse_jobs(jobs_path)
    out = open(results_path, "w")
    try:
        import numpy as np
        import torch
        import torch.nn.functional as F
    except Exception as e:  # report, do not fail the benchmark
        for j in jobs:
            out.write(f"{j['id']} error skipped (torch not importable: {e})\n")
        return 0
    torch.set_num_threads(threads)
    blas = "OpenBLAS" if "openblas" in open("/proc/self/maps").read().lower() else "BLAS"
    label = f"torch {torch.__version__} ({blas}, {threads} thr)"
    cache = {}

    def load(path, shape, dtype=None):
        key = (path, dtype)
        if key not in cache:
            t = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape))
            cache[key] = t if dtype is None else t.to(dtype)
        return cache[key]

    def select(U, policy, j):
        T, N = U.shape
        if policy == "tc":
            vals, ids = torch.topk(U, int(j["k"]), dim=1)
            rows = torch.arange(T).unsqueeze(1).expand_as(ids)
            return rows.reshape(-1), ids.reshape(-1), vals.reshape(-1)
        if policy == "ec":
            vals, toks = torch.topk(U, int(j["capacity"]), dim=0)
            cols = torch.arange(N).unsqueeze(0).expand_as(toks)
            return toks.reshape(-1), cols.reshape(-1), vals.reshape(-1)
        vals, flat = torch.topk(U.reshape(-1), int(j["budget"]))
        return flat // N, flat % N, vals

    for j in jobs:
        try:
            kind, policy = j["kind"], j["policy"]
            if kind == "select":
                T, N = int(j["T"]), int(j["N"])
                U = load(j["scores"], (T, N))
                if policy == "tc":
                    fn = lambda: torch.topk(U, int(j["k"]), dim=1)
                elif policy == "ec":
                    fn = lambda: torch.topk(U, int(j["capacity"]), dim=0)
                else:
                    fn = lambda: torch.topk(U.reshape(-1), int(j["budget"]))
                med, lo, hi, n = timed(fn, min_time, min_runs)
                if policy == "tc":
                    res = torch.sort(torch.topk(U, int(j["k"]), dim=1).indices, dim=1).values
                elif policy == "ec":
                    res = torch.sort(torch.topk(U, int(j["capacity"]), dim=0).indices, dim=0).values
                    res = res.t().contiguous()  # per column, like usmoe's N x C
                else:
                    res = torch.sort(torch.topk(U.reshape(-1), int(j["budget"])).indices).values
                res.numpy().astype(np.int64).tofile(j["out"])
            elif kind == "moe":
                T, N, d, f = int(j["T"]), int(j["N"]), int(j["d"]), int(j["f"])
                S, fs = int(j["S"]), int(j["fs"])
                alpha = float(j["alpha"])
                wdt = torch.bfloat16 if j["dtype"] == "bf16" else None
                x = load(j["x"], (T, d))
                wg = load(j["wg"], (N, d))
                w1 = load(j["w1"], (N, f, d), wdt)
                w3 = load(j["w3"], (N, f, d), wdt)
                w2 = load(j["w2"], (N, d, f), wdt)
                shared = []
                if S > 0:
                    shared = [load(j["sw1"], (S, fs, d), wdt), load(j["sw3"], (S, fs, d), wdt),
                              load(j["sw2"], (S, d, fs), wdt)]
                xa = x if wdt is None else x.to(wdt)

                def ffn(xe, a, b, c):
                    h = F.silu(xe @ a.t()) * (xe @ b.t())
                    return (h @ c.t()).float()

                def block():
                    L = x @ wg.t()
                    U = (1 - alpha) * F.softmax(L, dim=-1)
                    if alpha != 0:
                        U = U + alpha * torch.sigmoid(L) * (2.0 / N)
                    toks, exps, wts = select(U, policy, j)
                    y = torch.zeros(T, d)
                    for s in range(S):
                        y += ffn(xa, shared[0][s], shared[1][s], shared[2][s])
                    order = torch.argsort(exps, stable=True)
                    toks, exps, wts = toks[order], exps[order], wts[order]
                    counts = torch.bincount(exps, minlength=N).tolist()
                    start = 0
                    for e in range(N):
                        c = counts[e]
                        if c == 0:
                            continue
                        tk = toks[start:start + c]
                        y.index_add_(0, tk, ffn(xa[tk], w1[e], w3[e], w2[e]) * wts[start:start + c, None])
                        start += c
                    return y

                med, lo, hi, n = timed(block, min_time, min_runs)
                block().numpy().astype(np.float32).tofile(j["out"])
            else:
                raise ValueError(f"unknown job kind {kind}")
            out.write(f"{j['id']} ok {med:.1f} {lo:.1f} {hi:.1f} {n} {label}\n")
        except Exception as e:
            msg = str(e).replace("\n", " ")
            out.write(f"{j['id']} error failed ({type(e).__name__}: {msg})\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
