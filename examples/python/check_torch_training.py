#!/usr/bin/env python3
"""Checks a PyTorch training run with symflow: how far SGD moves the quantity gradient flow conserves.

A two-layer ReLU network F(X) = U relu(V X) (input 10, hidden 50, output 5, no biases, float64) is
trained by PyTorch's SGD on the mean squared error of a fixed batch, as in the paper's Figure 3.
Every k steps its weights are handed to symflow (symflow.from_torch(state_dict, model=...)), which
evaluates the conserved quantity of the ReLU junction, Q_k = ‖row k of V‖² − ‖column k of U‖² per
hidden unit, their sum ΣQ = Tr[VVᵀ − UᵀU], and the dimension of the orbit of the rescaling group
(R>0)^50 through θ. Gradient flow keeps ΣQ fixed; one SGD step θ' = θ − η∇L changes it by exactly
η²ΣQ(∇L) (symflow's gd_step_change), so that |ΣQ_t − ΣQ_0| ≤ η² Σ_{s<t} ‖∇L(θ_s)‖², the bound of
eq. (35) summed over the steps (‖∇L‖ from PyTorch at every step).

Writes drift.csv (one row per check: step, loss, ΣQ, |ΣQ_t − ΣQ_0|, the bound, the orbit
dimension, the difference between PyTorch's and symflow's loss and gradient relative to their size at
step 0) and
drift.png (gnuplot). Exits with status 1 when the bound is violated or symflow and PyTorch
disagree beyond 1e-12, and with status 77 when PyTorch is not installed (torch is optional).
"""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/check_torch_training", help="output folder (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=2000, help="SGD steps (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate η (default: %(default)s)")
    parser.add_argument("--every", type=int, default=10, help="steps between symflow checks, k (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="torch.manual_seed (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a short run (for tests): 200 steps, a check every 10")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.every = 200, 10
    if args.steps < 1 or args.every < 1 or not args.lr > 0:
        parser.error("--steps and --every must be positive, --lr a positive number")
    if args.seed < 0:
        parser.error(f"a seed is an integer 0 <= seed < 2^64, got {args.seed}")
    return args


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        print("check_torch_training: PyTorch is not installed (pip install torch); nothing to check", file=sys.stderr)
        return 77
    import symflow as sf

    torch.manual_seed(args.seed)
    inputs, hidden, outputs, samples = 10, 50, 5, 10
    module = torch.nn.Sequential(torch.nn.Linear(inputs, hidden, bias=False), torch.nn.ReLU(),
                                 torch.nn.Linear(hidden, outputs, bias=False)).double()
    x = torch.randn(samples, inputs, dtype=torch.float64)
    y = torch.randn(samples, outputs, dtype=torch.float64)
    optimizer = torch.optim.SGD(module.parameters(), lr=args.lr)
    loss_fn = torch.nn.MSELoss()

    net, theta0 = sf.from_torch(module)
    objective = sf.Objective(net, "mse", x.numpy().T, y.numpy().T)  # samples are columns
    junction = sf.Junction(net, 1, "rescale")
    q0 = junction.value(theta0).sum()

    rows, bound, worst_agreement, scale = [], 0.0, 0.0, None
    for step in range(args.steps + 1):
        optimizer.zero_grad()
        loss = loss_fn(module(x), y)
        loss.backward()
        if step % args.every == 0 or step == args.steps:
            theta = sf.from_torch(module.state_dict(), model=net)
            torch_gradient = np.concatenate([p.grad.numpy().flatten(order="F") for p in module.parameters()])
            value, gradient = objective.value_and_gradient(theta)
            if scale is None:  # differences are measured against the loss and gradient at step 0
                scale = (loss.item(), np.linalg.norm(torch_gradient))
            agreement = max(abs(value - loss.item()) / scale[0], np.linalg.norm(gradient - torch_gradient) / scale[1])
            worst_agreement = max(worst_agreement, agreement)
            q = junction.value(theta).sum()
            orbit = junction.orbit_dimension(theta).dimension
            rows.append((step, loss.item(), q, abs(q - q0), bound, orbit, agreement))
        if step == args.steps:
            break
        bound += args.lr ** 2 * sum(float((p.grad ** 2).sum()) for p in module.parameters())
        optimizer.step()

    os.makedirs(args.out, exist_ok=True)
    csv = os.path.join(args.out, "drift.csv")
    with open(csv, "w") as f:
        f.write("step,loss,q_sum,drift,bound,orbit_dimension,torch_symflow_difference\n")
        for r in rows:
            f.write(",".join(repr(v) for v in r) + "\n")
    violated = [r for r in rows if r[3] > r[4] * (1 + 1e-12) + 1e-14 * abs(q0)]
    last = rows[-1]
    print(f"loss {rows[0][1]:.6g} -> {last[1]:.6g}; drift |ΣQ_t - ΣQ_0| = {last[3]:.3e} <= eq. (35) bound "
          f"{last[4]:.3e} (ratio {last[3] / last[4]:.3f}); orbit dimension {min(r[5] for r in rows)}..{max(r[5] for r in rows)} "
          f"of {hidden}; PyTorch and symflow agree to {worst_agreement:.1e}")
    if shutil.which("gnuplot"):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_torch_training.gp")
        subprocess.run(["gnuplot", "-e", f"outdir='{args.out}'", script], check=True)
    else:
        print(f"gnuplot not found: skipping the PNG (install gnuplot-nox); the CSV is in {csv}", file=sys.stderr)
    if violated:
        print(f"check_torch_training: the bound is violated at step {violated[0][0]}", file=sys.stderr)
        return 1
    if worst_agreement > 1e-12:
        print(f"check_torch_training: PyTorch and symflow differ by {worst_agreement:.3e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
