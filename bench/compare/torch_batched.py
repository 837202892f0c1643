#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch batched over runs: the fair competitor of symflow's lockstep batches (optional, not CI).

B independent trainings of the paper's Appendix D network (input 10, hidden 50, output 5, X = I,
mean squared error per run, plain gradient descent, learning rate 0.01), as one computation:
torch.bmm over the B networks, one autograd call per step on the sum of the B losses (each run's
gradient is that of its own loss), an in-place update, and every run's loss and conserved quantity
(Tr Q for identity, eq. (48) summed otherwise) stored at every step into preallocated tensors.
Prints the CPU and wall-clock time per run and step for each activation, scalar type and thread
count, and with --json writes them for docs/performance.md.

Usage: /usr/bin/python3 bench/compare/torch_batched.py [--runs 1024] [--steps 200] [--threads 1 2]
"""
import argparse
import json
import time

import torch

N, H, M = 10, 50, 5


def potential(act, v):
    """Φ(v) = ∫_0^v σ/σ' of eq. (48), entry by entry."""
    if act == "relu":
        return 0.5 * torch.clamp(v, min=0) ** 2
    if act == "tanh":
        return 0.5 * torch.sinh(v) ** 2
    return v + torch.expm1(v)  # sigmoid


def train(act, dtype, runs, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    v = (0.1 * torch.randn(runs, H, N, generator=g, dtype=dtype)).requires_grad_()
    u = (0.1 * torch.randn(runs, M, H, generator=g, dtype=dtype)).requires_grad_()
    y = torch.randn(runs, M, N, generator=g, dtype=dtype)
    x = torch.eye(N, dtype=dtype).expand(runs, N, N)
    sigma = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[act]
    losses = torch.empty(steps, runs, dtype=dtype)
    qs = torch.empty(steps, runs, dtype=dtype)
    lr = 0.01
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t in range(steps):
        f = torch.bmm(u, sigma(torch.bmm(v, x)))
        per_run = ((f - y) ** 2).mean(dim=(1, 2))
        per_run.sum().backward()
        with torch.no_grad():
            v -= lr * v.grad
            u -= lr * u.grad
            v.grad = None
            u.grad = None
            losses[t] = per_run
            if act == "identity":
                qs[t] = (v * v).sum(dim=(1, 2)) - (u * u).sum(dim=(1, 2))
            else:
                qs[t] = 0.5 * (u * u).sum(dim=(1, 2)) - potential(act, v).sum(dim=(1, 2))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / (steps * runs), wall / (steps * runs), float(losses[-1, 0])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", help="write the timings to this file")
    a = p.parse_args()
    rows = []
    print(f"PyTorch {torch.__version__}, B = {a.runs} runs, {a.steps} steps; time per run and step")
    print(f"{'activation':10} {'scalar':7} {'threads':7} {'cpu_ns':>9} {'wall_ns':>9}")
    for threads in a.threads:
        torch.set_num_threads(threads)
        for dtype in (torch.float64, torch.float32):
            for act in ("identity", "relu", "tanh", "sigmoid"):
                train(act, dtype, a.runs, 5)  # warm-up
                cpu, wall, _ = train(act, dtype, a.runs, a.steps)
                name = "double" if dtype == torch.float64 else "float"
                rows.append({"activation": act, "scalar": name, "threads": threads,
                             "cpu_ns_per_run_step": cpu * 1e9, "wall_ns_per_run_step": wall * 1e9})
                print(f"{act:10} {name:7} {threads:7} {cpu * 1e9:9.0f} {wall * 1e9:9.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": torch.__version__, "runs": a.runs, "steps": a.steps, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
