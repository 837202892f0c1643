#!/usr/bin/env python3
"""Side-by-side comparison of symflow with the paper's PyTorch training loop.

The PyTorch half follows the paper's reference code (Appendix D, Fig. 3): a two-layer network
F = U sigma(V^T X) with X = I, output 5, hidden 50, input 10, trained by torch.optim.SGD on
nn.MSELoss (mean reduction); after every step the parameters are cloned and the loss
||Y - U sigma(V^T)||_F and the conserved quantity Q are recorded as the reference code records them
(utils.compute_Q: Tr(U^T U - V^T V) for a linear network, through matrix products).

The symflow half (symflow_compare, built from symflow_compare.cpp) runs the same loop from the
same initial tensors, exported to a validated text file (tensor_file.hpp describes the format).

What is checked and measured, in one invocation:
  1. trajectories: loss and Q after every one of 1000 steps, float64 and float32, per activation;
  2. time per step of each loop (median of several runs), 1 and 2 threads, and the ratio;
  3. the Appendix E sweep: Q of 1000 Xavier draws at m = h = n = 100, timed;
  4. the full Hessian of the loss at 750 parameters (torch.autograd.functional.hessian), compared
     entry by entry and timed;
  5. with --drift-steps N (400000 as in the paper), Figure 3's final drift of the code's Q at each
     learning rate in float32 (the published dtype) and float64, by both implementations.

Usage (run.sh builds symflow_compare and calls this):
  /usr/bin/python3 torch_compare.py --symflow BUILD/bench/symflow_compare [--quick] [--json out.json]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("torch_compare.py: PyTorch is not importable by " + sys.executable + ".\n"
             "On Debian: sudo apt-get install python3-torch, then run this script with /usr/bin/python3\n"
             "(the comparison is optional and not part of the test suite).")

M, H, N = 5, 50, 10          # output, hidden, input: the paper's Appendix D network
ACTIVATIONS = ["identity", "relu", "tanh", "sigmoid"]
DTYPES = {"float64": torch.float64, "float32": torch.float32}


# ----------------------------------------------------------------------------------------------
# The tensor file format shared with tensor_file.hpp.

def write_tensors(path, dtype, tensors):
    with open(path, "w") as f:
        f.write("symflow-tensors 1\ndtype %s\n" % dtype)
        for name, t in tensors.items():
            t = t.detach().to(torch.float64).cpu()
            rows, cols = t.shape
            f.write("tensor %s %d %d\n" % (name, rows, cols))
            for v in t.reshape(-1).tolist():  # row-major
                f.write(float(v).hex() + "\n")
        f.write("end\n")


def read_tensors(path):
    """Reads and validates a tensor file; returns (dtype, {name: float64 tensor})."""
    with open(path) as f:
        lines = f.read().split("\n")
    pos = 0

    def fail(what):
        raise ValueError("%s:%d: %s" % (path, pos, what))

    def take():
        nonlocal pos
        if pos >= len(lines):
            fail("unexpected end of file")
        pos += 1
        return lines[pos - 1]

    if take() != "symflow-tensors 1":
        fail("expected the header 'symflow-tensors 1'")
    line = take()
    if line not in ("dtype float64", "dtype float32"):
        fail("expected 'dtype float64' or 'dtype float32'")
    dtype = line.split()[1]
    tensors = {}
    while True:
        line = take()
        if line == "end":
            break
        parts = line.split()
        if len(parts) != 4 or parts[0] != "tensor":
            fail("expected 'tensor <name> <rows> <cols>', got %r" % line)
        name, rows, cols = parts[1], int(parts[2]), int(parts[3])
        if rows <= 0 or cols <= 0 or name in tensors:
            fail("bad or repeated tensor %s" % name)
        values = []
        for _ in range(rows * cols):
            v = float.fromhex(take())
            if not math.isfinite(v):
                fail("non-finite value in %s" % name)
            values.append(v)
        tensors[name] = torch.tensor(values, dtype=torch.float64).reshape(rows, cols)
    if any(l.strip() for l in lines[pos:]):
        fail("text after 'end'")
    return dtype, tensors


# ----------------------------------------------------------------------------------------------
# The paper's model, quantity and loss (as model.py and utils.py of the reference code compute them).

def activation_fn(name):
    return {"identity": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[name]


class TwoLayerElementwise(nn.Module):
    def __init__(self, U, V, activation):
        super().__init__()
        self.U = nn.Parameter(U.clone())
        self.V = nn.Parameter(V.clone())
        self.sigma = activation_fn(activation)

    def forward(self, x):
        return torch.matmul(self.U, self.sigma(torch.matmul(self.V.T, x)))


def compute_Q(U, V, activation):
    if activation == "identity":
        return torch.trace(torch.matmul(U.T, U) - torch.matmul(V.T, V))
    if activation == "relu":
        return torch.trace(torch.matmul(U.T, U) - torch.matmul(torch.relu(V.T), torch.relu(V)))
    if activation == "tanh":
        return torch.trace(torch.matmul(U.T, U) - torch.matmul(torch.cosh(V.T), torch.cosh(V)))
    return 0.5 * torch.trace(torch.matmul(U.T, U)) - torch.sum(V) - torch.sum(torch.exp(V))


def loss_2norm(U, V, Y, activation):
    return torch.norm(Y - torch.matmul(U, activation_fn(activation)(V.T)))


def initial_tensors(dtype, seed=12345, sigma=0.1):
    """Y ~ N(0, 1), U, V ~ N(0, sigma^2) with the reference code's seeding, and X = I."""
    t = DTYPES[dtype]
    torch.manual_seed(seed)
    Y = torch.rand(M, N, dtype=t).normal_(mean=0, std=1)
    torch.manual_seed(seed)
    U = torch.rand(M, H, dtype=t).normal_(mean=0, std=sigma)
    torch.manual_seed(seed)
    V = torch.rand(N, H, dtype=t).normal_(mean=0, std=sigma)
    return {"X": torch.eye(N, dtype=t), "Y": Y, "U": U, "V": V}


def train(init, activation, steps, lr):
    """The reference loop: SGD step on MSELoss, then clone U, V and record loss_2norm and Q."""
    model = TwoLayerElementwise(init["U"], init["V"], activation)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    criterion = nn.MSELoss()
    X, Y = init["X"], init["Y"]
    loss_arr, Q_arr = [], []
    for _ in range(steps):
        model.train()
        optimizer.zero_grad()
        output = model.forward(X)
        loss = criterion(output, Y)
        loss.backward()
        optimizer.step()
        U = model.U.data.clone()
        V = model.V.data.clone()
        Q = compute_Q(U, V, activation)
        loss = loss_2norm(U, V, Y, activation)
        loss_arr.append(loss.detach().numpy())
        Q_arr.append(Q.detach().numpy())
    return [float(v) for v in loss_arr], [float(v) for v in Q_arr]


# ----------------------------------------------------------------------------------------------

def run_symflow(binary, *args):
    out = subprocess.run([binary, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip().startswith("{") else out


def read_trajectory(path):
    with open(path) as f:
        header = f.readline().split()
        assert header == ["step", "loss", "q"], path
        rows = [l.split() for l in f if l.strip()]
    return [float.fromhex(r[1]) for r in rows], [float.fromhex(r[2]) for r in rows]


def relative(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def check_trajectories(binary, work, steps, lrs):
    rows = []
    for dtype in DTYPES:
        init = initial_tensors(dtype)
        path = os.path.join(work, "initial_%s.txt" % dtype)
        write_tensors(path, dtype, init)
        for activation, lr in ((a, r) for r in lrs for a in ACTIVATIONS):
            torch_loss, torch_q = train(init, activation, steps, lr)
            out = os.path.join(work, "symflow_%s_%s.txt" % (dtype, activation))
            run_symflow(binary, "trajectory", "--tensors", path, "--activation", activation, "--dtype", dtype,
                        "--steps", steps, "--lr", lr, "--out", out)
            sym_loss, sym_q = read_trajectory(out)
            assert len(sym_loss) == steps
            # Q is compared relative to its largest magnitude along the run.
            q_scale = max(abs(q) for q in torch_q)
            row = {
                "dtype": dtype, "activation": activation, "steps": steps, "lr": lr,
                "final_loss_torch": torch_loss[-1], "final_loss_symflow": sym_loss[-1],
                "final_loss_rel_diff": relative(sym_loss[-1], torch_loss[-1]),
                "max_loss_rel_diff": max(relative(s, t) for s, t in zip(sym_loss, torch_loss)),
                "max_q_rel_diff": max(abs(s - t) for s, t in zip(sym_q, torch_q)) / max(q_scale, 1e-300),
                "q_drift_torch": torch_q[-1] - torch_q[0],
                "q_drift_symflow": sym_q[-1] - sym_q[0],
            }
            if dtype == "float64":
                # The same run in long double (from the same float64 tensors) as the exact answer:
                # how far each double-precision implementation is from it.
                ref = os.path.join(work, "symflow_longdouble_%s.txt" % activation)
                run_symflow(binary, "trajectory", "--tensors", path, "--activation", activation, "--dtype", "longdouble",
                            "--steps", steps, "--lr", lr, "--out", ref)
                exact_loss, _ = read_trajectory(ref)
                row["final_loss_torch_error"] = relative(torch_loss[-1], exact_loss[-1])
                row["final_loss_symflow_error"] = relative(sym_loss[-1], exact_loss[-1])
                # Agreement to 1e-12, or, where the run ends on a residual so small that PyTorch's own
                # rounding exceeds that, symflow within 1e-12 of the exact run and the two within
                # 1e-12 plus PyTorch's own error.
                row["agrees"] = (row["final_loss_rel_diff"] <= 1e-12 or
                                 (row["final_loss_symflow_error"] <= 1e-12 and
                                  row["final_loss_rel_diff"] <= 1e-12 + row["final_loss_torch_error"]))
            rows.append(row)
    return rows


def code_terms(U, V, activation):
    """f1, f2 of the reference code's Q = f1 - f2 (utils.compute_Q), whose sum at the start is the
    normalisation of its Figure 3 (UU_plus_VV_0)."""
    if activation == "identity":
        return torch.sum(U * U), torch.sum(V * V)
    if activation == "relu":
        return torch.sum(U * U), torch.sum(torch.relu(V) ** 2)
    if activation == "tanh":
        return torch.sum(U * U), torch.sum(torch.cosh(V) ** 2)
    return 0.5 * torch.sum(U * U), torch.sum(V) + torch.sum(torch.exp(V))


def check_drift(binary, work, steps, lrs, activations):
    """Figure 3's final drift (|Q_code(N)| - |Q_code(0)|) / (f1 + f2)(0) after `steps` steps of the
    reference loop, in float32 (as published) and float64, by PyTorch and by symflow from the same
    tensors: float32 rounding, not the mathematics, makes the drifts of the three learning rates
    "the same magnitude" (docs/errata.md, Appendix D)."""
    rows = []
    for dtype in DTYPES:
        init = initial_tensors(dtype)
        path = os.path.join(work, "initial_%s.txt" % dtype)
        write_tensors(path, dtype, init)
        for activation in activations:
            f1, f2 = code_terms(init["U"], init["V"], activation)
            scale, q0 = float(f1 + f2), abs(float(f1 - f2))
            for lr in lrs:
                model = TwoLayerElementwise(init["U"], init["V"], activation)
                optimizer = torch.optim.SGD(model.parameters(), lr=lr)
                criterion = nn.MSELoss()
                for _ in range(steps):
                    optimizer.zero_grad()
                    criterion(model.forward(init["X"]), init["Y"]).backward()
                    optimizer.step()
                g1, g2 = code_terms(model.U.data, model.V.data, activation)
                out = os.path.join(work, "drift_%s_%s.txt" % (dtype, activation))
                run_symflow(binary, "trajectory", "--tensors", path, "--activation", activation, "--dtype", dtype,
                            "--steps", steps, "--lr", lr, "--out", out)
                _, sym_q = read_trajectory(out)
                rows.append({"dtype": dtype, "activation": activation, "lr": lr, "steps": steps,
                             "drift_torch": (abs(float(g1 - g2)) - q0) / scale,
                             "drift_symflow": (abs(sym_q[-1]) - q0) / scale})
    return rows


def timed(f):
    """Runs f() and returns (wall-clock seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_torch_loop(init, activation, steps, lr, repeats):
    """Median wall-clock and CPU time per step over `repeats` runs of the reference loop."""
    train(init, activation, min(steps, 100), lr)  # warm-up
    runs = [timed(lambda: train(init, activation, steps, lr)) for _ in range(repeats)]
    return statistics.median(w for w, _ in runs) / steps, statistics.median(c for _, c in runs) / steps


def time_steps(binary, work, steps, lr, repeats, threads_list):
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for dtype in DTYPES:
            path = os.path.join(work, "initial_%s.txt" % dtype)
            init = initial_tensors(dtype)
            for activation in ACTIVATIONS:
                t_wall, t_cpu = time_torch_loop(init, activation, steps, lr, repeats)
                # symflow's loop is timed over more steps (a step takes microseconds).
                sym = run_symflow(binary, "time-step", "--tensors", path, "--activation", activation, "--dtype", dtype,
                                  "--steps", max(steps, 20000), "--lr", lr, "--repeats", repeats, "--threads", threads)
                rows.append({"threads": threads, "dtype": dtype, "activation": activation,
                             "torch_seconds_per_step": t_wall, "torch_cpu_seconds_per_step": t_cpu,
                             "symflow_seconds_per_step": sym["median_seconds_per_step"],
                             "symflow_cpu_seconds_per_step": sym["median_cpu_seconds_per_step"],
                             "ratio": t_cpu / sym["median_cpu_seconds_per_step"],
                             "ratio_wall": t_wall / sym["median_seconds_per_step"]})
    return rows


def torch_qstats(activation, draws, size, repeats):
    """Q_distribution.py of the reference code: draw i seeded with i**2, Q through matrix products."""
    m = h = n = size
    qs = []

    def sweep():
        qs.clear()
        for i in range(draws):
            torch.manual_seed(i ** 2)
            U = torch.rand(m, h).normal_(mean=0, std=math.sqrt(1 / h))
            V = torch.rand(n, h).normal_(mean=0, std=math.sqrt(1 / n))
            qs.append(float(compute_Q(U, V, activation)))

    runs = [timed(sweep) for _ in range(repeats)]
    return (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs),
            statistics.fmean(qs), statistics.variance(qs))


def time_qstats(binary, draws, size, repeats, threads_list):
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for activation in ACTIVATIONS:
            t_torch, cpu_torch, mean_torch, var_torch = torch_qstats(activation, draws, size, repeats)
            sym = run_symflow(binary, "qstats", "--activation", activation, "--draws", draws, "--size", size,
                              "--repeats", repeats, "--threads", threads, "--dtype", "float32")
            se = math.sqrt(var_torch / draws + sym["variance"] / draws)
            rows.append({"threads": threads, "activation": activation, "draws": draws, "size": size,
                         "torch_seconds": t_torch, "symflow_seconds": sym["median_seconds"],
                         "torch_cpu_seconds": cpu_torch, "symflow_cpu_seconds": sym["median_cpu_seconds"],
                         "ratio": t_torch / sym["median_seconds"],
                         "mean_torch": mean_torch, "mean_symflow": sym["mean"],
                         "means_agree_within_5_se": abs(mean_torch - sym["mean"]) <= 5 * se})
    return rows


def time_hessian(binary, work, repeats, threads_list):
    rows = []
    path = os.path.join(work, "initial_float64.txt")
    init = initial_tensors("float64")
    X, Y = init["X"], init["Y"]
    # symflow's parameter order: theta = [V row-major (= vec W_1 = vec V^T), U column-major].
    theta0 = torch.cat([init["V"].reshape(-1), init["U"].T.reshape(-1)])

    def loss_of(theta):
        V = theta[:N * H].reshape(N, H)
        U = theta[N * H:].reshape(H, M).T
        return nn.functional.mse_loss(torch.matmul(U, torch.matmul(V.T, X)), Y)

    for threads in threads_list:
        torch.set_num_threads(threads)
        result = {}

        def hessian():
            result["H"] = torch.autograd.functional.hessian(loss_of, theta0)

        runs = [timed(hessian) for _ in range(repeats)]
        times = [w for w, _ in runs]
        h_torch = result["H"]
        out = os.path.join(work, "hessian_symflow.txt")
        sym = run_symflow(binary, "hessian", "--tensors", path, "--repeats", repeats, "--threads", threads, "--out", out)
        _, tensors = read_tensors(out)
        h_sym = tensors["H"]
        diff = float(torch.max(torch.abs(h_sym - h_torch)) / torch.max(torch.abs(h_torch)))
        rows.append({"threads": threads, "parameters": int(theta0.numel()),
                     "torch_seconds": statistics.median(times), "symflow_seconds": sym["median_seconds"],
                     "torch_cpu_seconds": statistics.median(c for _, c in runs),
                     "symflow_cpu_seconds": sym["median_cpu_seconds"],
                     "ratio": statistics.median(times) / sym["median_seconds"],
                     "max_entry_diff_rel_to_max": diff})
    return rows


def markdown(results):
    lines = ["### Trajectories (SGD, %d steps, same initial tensors)" % results["steps"], "",
             "| dtype | activation | lr | final loss | final loss rel. diff | max loss rel. diff, all steps | max Q diff / max abs Q | PyTorch vs long double | symflow vs long double |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["trajectories"]:
        exact = ("%.1e | %.1e" % (r["final_loss_torch_error"], r["final_loss_symflow_error"])
                 if "final_loss_torch_error" in r else "– | –")
        lines.append("| %s | %s | %g | %.6g | %.2e | %.2e | %.2e | %s |" % (r["dtype"], r["activation"], r["lr"], r["final_loss_torch"],
                     r["final_loss_rel_diff"], r["max_loss_rel_diff"], r["max_q_rel_diff"], exact))
    lines += ["", "### Time per training step (loss and Q recorded every step; CPU time, wall-clock in brackets)", "",
              "| threads | dtype | activation | PyTorch µs/step | symflow µs/step | ratio, CPU | ratio, wall-clock |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["steps_timing"]:
        lines.append("| %d | %s | %s | %.1f (%.1f) | %.3f (%.3f) | %.0f× | %.0f× |" % (
            r["threads"], r["dtype"], r["activation"], 1e6 * r["torch_cpu_seconds_per_step"],
            1e6 * r["torch_seconds_per_step"], 1e6 * r["symflow_cpu_seconds_per_step"],
            1e6 * r["symflow_seconds_per_step"], r["ratio"], r["ratio_wall"]))
    lines += ["", "### Appendix E sweep: Q of Xavier draws (wall-clock; CPU time of all threads in brackets)", "",
              "| threads | activation | draws | m = h = n | PyTorch s | symflow s | ratio, wall-clock | mean Q (PyTorch / symflow) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["qstats"]:
        lines.append("| %d | %s | %d | %d | %.3f (%.3f) | %.4f (%.4f) | %.1f× | %.7g / %.7g%s |" % (
            r["threads"], r["activation"], r["draws"], r["size"], r["torch_seconds"], r["torch_cpu_seconds"],
            r["symflow_seconds"], r["symflow_cpu_seconds"], r["ratio"],
            r["mean_torch"], r["mean_symflow"], "" if r["means_agree_within_5_se"] else " (differ!)"))
    lines += ["", "### Full Hessian of the loss (wall-clock; CPU time of all threads in brackets)", "",
              "| threads | parameters | PyTorch s | symflow s | ratio, wall-clock | max entry difference / max entry |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in results["hessian"]:
        lines.append("| %d | %d | %.4f (%.4f) | %.5f (%.5f) | %.1f× | %.2e |" % (
            r["threads"], r["parameters"], r["torch_seconds"], r["torch_cpu_seconds"], r["symflow_seconds"],
            r["symflow_cpu_seconds"], r["ratio"], r["max_entry_diff_rel_to_max"]))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symflow", required=True, help="path of the symflow_compare binary")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of the timed loop")
    parser.add_argument("--trajectory-lr", type=float, nargs="+", default=[0.1, 0.01, 0.001],
                        help="learning rates of the trajectory checks (the paper's three)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="few steps and draws (checks the plumbing only)")
    parser.add_argument("--json", help="also write all results to this JSON file")
    parser.add_argument("--drift-steps", type=int, default=0,
                        help="also run Figure 3's drift for this many steps (400000 as published) in both dtypes")
    parser.add_argument("--drift-activations", nargs="+", default=["identity"], choices=ACTIVATIONS)
    parser.add_argument("--keep", help="keep the exchanged files in this folder")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.draws = 50, 2, 20
    torch.set_num_threads(1)
    work = args.keep or tempfile.mkdtemp(prefix="symflow-compare-")
    os.makedirs(work, exist_ok=True)
    results = {"torch_version": torch.__version__, "steps": args.steps, "lr": args.lr, "repeats": args.repeats}
    results["trajectories"] = check_trajectories(args.symflow, work, args.steps, args.trajectory_lr)
    results["steps_timing"] = time_steps(args.symflow, work, args.steps, args.lr, args.repeats, args.threads)
    results["qstats"] = time_qstats(args.symflow, args.draws, 100, max(1, min(args.repeats, 3)), args.threads)
    results["hessian"] = time_hessian(args.symflow, work, max(1, min(args.repeats, 5)), args.threads)
    if args.drift_steps > 0:
        results["drift"] = check_drift(args.symflow, work, args.drift_steps, args.trajectory_lr,
                                       args.drift_activations)
    print(markdown(results))
    for r in results.get("drift", []):
        print("drift of the code's Q, %s, %s, lr %g, %d steps: PyTorch %.3e, symflow %.3e"
              % (r["dtype"], r["activation"], r["lr"], r["steps"], r["drift_torch"], r["drift_symflow"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    doubles = [r for r in results["trajectories"] if r["dtype"] == "float64"]
    ok = all(r["agrees"] for r in doubles)
    strict = all(r["final_loss_rel_diff"] <= 1e-12 for r in doubles)
    print("\nfloat64: final losses agree to 1e-12 relative in every run: %s" % ("yes" if strict else "no"))
    print("float64: every run agrees to 1e-12, or symflow is within 1e-12 of the long-double run and the gap is "
          "PyTorch's own rounding: %s" % ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
