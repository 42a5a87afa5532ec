#!/usr/bin/python3
"""Pictures of a usmoe-bench run: usmoe_plot.py DIR

Reads DIR/usmoe-bench.json (usmoe-bench's --json output) and
DIR/assignment.json (written by usmoe-bench --plot DIR) and writes, as PNG
and SVG:
  DIR/throughput.{png,svg}  throughput against tokens per call, one panel per
                            stage present (route: tokens/s; select: cells/s;
                            moe: GFLOP/s), one colour per policy; usmoe solid,
                            the same-run baseline dashed, the PyTorch peer
                            dotted. Log-log axes.
  DIR/assignment.{png,svg}  the paper's Figure 1 view: the token x expert
                            assignment map of one group under Token Choice
                            and under the unified mechanism, side by side,
                            with per-expert loads (top) and per-token expert
                            counts (right) as margin bars.

Needs Debian's python3-matplotlib (run with /usr/bin/python3). Exit status 3
when matplotlib is missing, 2 when the inputs are missing or malformed.
"""
import json
import os
import sys

POLICY_COLOURS = {"tc": "#1f77b4", "ec": "#2ca02c", "unified": "#d62728"}
POLICY_NAMES = {"tc": "Token Choice", "ec": "Expert Choice", "unified": "Unified (USMoE)"}
STAGES = [  # (stage, JSON rate key, axis label, scale)
    ("route", "tokens_per_second", "routing X -> plan [M tokens/s]", 1e-6),
    ("select", "cells_per_second", "selection on scores [G cells/s]", 1e-9),
    ("moe", "flops_per_second", "MoE layer forward [GFLOP/s]", 1e-9),
]
SIDES = [("usmoe", "-", "o", "usmoe"), ("baseline", "--", "s", "baseline"),
         ("torch", ":", "^", "PyTorch")]


def parse_name(name):
    """usmoe/route/tc/T:4096/N:64/... -> (side, stage, policy, {key: value})."""
    parts = name.split("/")
    side, stage = parts[0], parts[1]
    policy = parts[2] if len(parts) > 2 and ":" not in parts[2] else "-"
    fields = dict(p.split(":", 1) for p in parts[2:] if ":" in p)
    return side, stage, policy, fields


def plain_ticks(axis, minor=False):
    """Log axes labelled 0.5, 2, 64 instead of 5x10^-1 (minor ticks too when
    asked: a narrow range may have no major tick at all)."""
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if minor else ""))


def throughput_figure(plt, doc, out_base):
    series = {}  # (stage, policy, side) -> [(T, rate, label)]
    for b in doc["benchmarks"]:
        side, stage, policy, fields = parse_name(b["name"])
        key = next((k for s, k, _, _ in STAGES if s == stage), None)
        if key is None or key not in b:
            continue
        series.setdefault((stage, policy, side), []).append(
            (int(fields["T"]), b[key], b.get("label", side)))
    stages = [s for s in STAGES if any(k[0] == s[0] for k in series)]
    if not stages:
        raise ValueError("no route, select or moe rows in the JSON")
    fig, axes = plt.subplots(1, len(stages), figsize=(5.2 * len(stages), 5.6), squeeze=False)
    ctx = doc["context"]
    for ax, (stage, _, ylabel, scale) in zip(axes[0], stages):
        for (st, policy, side), pts in sorted(series.items()):
            if st != stage:
                continue
            style = next(s for s in SIDES if s[0] == side)
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] * scale for p in pts], linestyle=style[1],
                    marker=style[2], color=POLICY_COLOURS.get(policy, "black"),
                    label=f"{POLICY_NAMES.get(policy, policy)}, {style[3]}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        plain_ticks(ax.xaxis)
        lo, hi = ax.get_ylim()
        plain_ticks(ax.yaxis, minor=hi / lo < 8)  # a decade or more has majors
        ax.set_xlabel("tokens per call (T)")
        ax.set_ylabel(ylabel)
        ax.set_title(stage)
        ax.grid(True, which="both", alpha=0.3)
        # Below the axes: inside, the legend hid points.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False)
    fig.suptitle(f"usmoe-bench {ctx.get('preset', '')}: {ctx.get('threads', '')}; "
                 f"{ctx.get('simd_target', '')}; {ctx.get('cpu', '')}", fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{out_base}.{ext}", dpi=120)
    plt.close(fig)


def assignment_figure(plt, doc, out_base):
    from matplotlib.gridspec import GridSpec
    from matplotlib.ticker import MaxNLocator
    maps = [(p, doc[p]) for p in ("tc", "unified") if p in doc]
    if not maps:
        raise ValueError("assignment.json has neither tc nor unified")
    fig = plt.figure(figsize=(6.0 * len(maps), 6.2))
    gs = GridSpec(2, 2 * len(maps), figure=fig, width_ratios=[5, 1] * len(maps),
                  height_ratios=[1, 5], wspace=0.08, hspace=0.08)
    T, N = doc["T"], doc["N"]
    vmax_load = max(max(sum(col) for col in zip(*m["mask"])) for _, m in maps)
    vmax_count = max(max(sum(row) for row in m["mask"]) for _, m in maps)
    for i, (policy, m) in enumerate(maps):
        mask = m["mask"]
        loads = [sum(col) for col in zip(*mask)]
        counts = [sum(row) for row in mask]
        ax = fig.add_subplot(gs[1, 2 * i])
        ax.imshow(mask, aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1)
        ax.set_xlabel("expert")
        ax.set_ylabel("token")
        top = fig.add_subplot(gs[0, 2 * i], sharex=ax)
        top.bar(range(N), loads, color=POLICY_COLOURS[policy], width=1.0)
        top.set_ylim(0, vmax_load * 1.1)
        top.set_ylabel("tokens\nper expert", fontsize=8)
        top.tick_params(labelbottom=False)
        top.set_title(f"{POLICY_NAMES[policy]}: {sum(counts)} pairs, alpha {m['alpha']:g}",
                      fontsize=10)
        right = fig.add_subplot(gs[1, 2 * i + 1], sharey=ax)
        right.barh(range(T), counts, color=POLICY_COLOURS[policy], height=1.0)
        right.set_xlim(0, vmax_count * 1.1)
        right.set_xlabel("experts\nper token", fontsize=8)
        right.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        top.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        right.tick_params(labelleft=False)
    fig.suptitle(f"one group of {T} tokens x {N} experts, k = {doc['k']:g} "
                 f"(same budget T*k for both)", fontsize=10)
    for ext in ("png", "svg"):
        fig.savefig(f"{out_base}.{ext}", dpi=120)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"usmoe_plot: matplotlib is missing ({e}); install python3-matplotlib",
              file=sys.stderr)
        return 3
    try:
        with open(os.path.join(out_dir, "usmoe-bench.json")) as f:
            bench = json.load(f)
        throughput_figure(plt, bench, os.path.join(out_dir, "throughput"))
        assign_path = os.path.join(out_dir, "assignment.json")
        if os.path.exists(assign_path):
            with open(assign_path) as f:
                assignment_figure(plt, json.load(f), os.path.join(out_dir, "assignment"))
    except (OSError, ValueError, KeyError) as e:
        print(f"usmoe_plot: {e}", file=sys.stderr)
        return 2
    print(f"usmoe_plot: wrote {out_dir}/throughput.{{png,svg}}"
          + (f" and {out_dir}/assignment.{{png,svg}}" if os.path.exists(assign_path) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
