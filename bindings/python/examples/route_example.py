"""Route a batch of tokens with each usmoe policy and print the expert loads.

Run from a source checkout (after building libusmoe):
    cd bindings/python && /usr/bin/python3 examples/route_example.py
or with the package installed. Set USMOE_LIBRARY=/path/to/libusmoe.so to pick
the library.
"""

import os
import sys

import numpy as np

try:
    import usmoe
except ImportError:  # running from the source tree without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import usmoe


def main():
    rng = np.random.default_rng(0)
    num_experts, dim = 8, 64
    seq_lens = [48, 80]                       # two sequences = two routing groups
    T = sum(seq_lens)
    gate = (rng.standard_normal((num_experts, dim)) / np.sqrt(dim)).astype(np.float32)
    x = rng.standard_normal((T, dim)).astype(np.float32)

    print(f"usmoe {usmoe.__version__} ({usmoe.simd_target_name()}, "
          f"{usmoe.get_num_threads()} threads); T={T} tokens, N={num_experts} experts")
    for policy, k in (("token_choice", 2), ("expert_choice", 2.0), ("unified", 2.0),
                      ("unified", 1.5)):
        with usmoe.Router(gate, policy=policy, k=k, gate_norm="none") as router:
            with router.route(x, group_sizes=seq_lens) as plan:
                counts = np.bincount(plan.token_counts, minlength=num_experts + 1)
                print(f"{policy:>13} k={k:<4}: selected {plan.num_selected:4d} cells; "
                      f"loads {plan.expert_loads.tolist()}; "
                      f"tokens with 0/1/2/3+ experts: {counts[0]}/{counts[1]}/"
                      f"{counts[2]}/{counts[3:].sum()}")


if __name__ == "__main__":
    main()
