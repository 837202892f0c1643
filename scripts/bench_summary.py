#!/usr/bin/env python3
"""Turns Google Benchmark's JSON output (scripts/bench.sh) into a Markdown summary.

Usage: bench_summary.py bench.json [--compare compare.json] > bench.md

Every figure comes from the one JSON file given (one run of the suite), so the ratios compare
numbers measured side by side:
  * the streaming conserved quantities conserved/<quantity>/symflow/<scalar>/dynamic/<shape> as a
    fraction of the bandwidth stream/<scalar>/theta_<shape> measured over an array of the same
    footprint as θ, and of the DRAM bandwidth (stream/double/dram_1GiB);
  * each conserved/<quantity>/naive_products/... benchmark against its .../symflow/... twin, with
    the relative error of each against long double;
  * symflow's generic loops (paper_loop/.../symflow, flow/gd_step/...) against the hand-written
    Eigen loops;
  * with --compare, the PyTorch ratios of bench/compare/torch_compare.py --json.
Standard library only.
"""

import argparse
import json
import re
import sys

UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
STANDARD_KEYS = {"name", "run_name", "run_type", "aggregate_name", "aggregate_unit", "family_index",
                 "per_family_instance_index", "repetitions", "repetition_index", "threads", "iterations",
                 "real_time", "cpu_time", "time_unit", "bytes_per_second", "items_per_second", "label",
                 "error_occurred", "error_message"}


def human_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return "%.3g %s" % (seconds / scale, unit)
    return "%.3g ns" % (seconds / 1e-9)


def human_rate(bytes_per_second):
    return "%.1f GB/s" % (bytes_per_second / 1e9) if bytes_per_second else ""


def load(path):
    """{run_name: entry}, preferring the median aggregate over individual repetitions."""
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        # Benchmarks with a fixed iteration or repetition count carry it in their names.
        name = re.sub(r"/(iterations|repeats):\d+", "", b.get("run_name", b["name"]))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") != "median":
                continue
            runs[name] = dict(b, _median=True)
        elif not runs.get(name, {}).get("_median"):
            runs[name] = b
    for b in runs.values():
        scale = UNIT_SECONDS[b.get("time_unit", "ns")]
        b["cpu_seconds"] = b["cpu_time"] * scale
        b["real_seconds"] = b["real_time"] * scale
        # Multi-threaded benchmarks are timed by the wall clock.
        b["seconds"] = b["real_seconds"] if "/real_time" in b["name"] or b.get("threads", 1) > 1 else b["cpu_seconds"]
    return data.get("context", {}), runs


def context_lines(context):
    caches = ", ".join("L%d %s %d KiB" % (c["level"], c["type"].lower(), c["size"] // 1024)
                       for c in context.get("caches", []))
    return ["Run on %s: %s CPUs at %s MHz (%s); %s; Google Benchmark library built as %s." % (
        context.get("host_name", "?"), context.get("num_cpus", "?"), context.get("mhz_per_cpu", "?"), caches,
        context.get("date", "?"), context.get("library_build_type", "?"))]


def all_benchmarks_table(runs):
    lines = ["| benchmark | time | bandwidth | counters |", "| --- | --- | --- | --- |"]
    for name, b in runs.items():
        counters = ", ".join("%s = %.3g" % (k, v) for k, v in b.items()
                             if k not in STANDARD_KEYS and not k.startswith("_") and isinstance(v, (int, float))
                             and k not in ("cpu_seconds", "real_seconds", "seconds"))
        lines.append("| `%s` | %s | %s | %s |" % (name, human_time(b["seconds"]), human_rate(b.get("bytes_per_second")),
                                                  counters))
    return lines


def bandwidth_table(runs):
    """Streaming conserved quantities at the large sizes against stream/<scalar>/theta_<shape>."""
    streams = {}
    for name, b in runs.items():
        m = re.fullmatch(r"stream/(float|double)/theta_(\d+x\d+x\d+)", name)
        if m and b.get("bytes_per_second"):
            streams[(m.group(1), m.group(2))] = b["bytes_per_second"]
    dram = runs.get("stream/double/dram_1GiB", {}).get("bytes_per_second")
    if not streams:
        return []
    lines = ["| quantity | scalar | m × h × n | time | reads θ at | stream, same footprint | fraction | fraction of DRAM stream | rel. error |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, b in runs.items():
        m = re.fullmatch(r"conserved/(\w+)/symflow/(float|double)/dynamic/(\d+x\d+x\d+)", name)
        if not m or (m.group(2), m.group(3)) not in streams or not b.get("bytes_per_second"):
            continue
        same = streams[(m.group(2), m.group(3))]
        lines.append("| %s | %s | %s | %s | %s | %s | %.0f%% | %s | %s |" % (
            m.group(1), m.group(2), m.group(3).replace("x", " × "), human_time(b["seconds"]),
            human_rate(b["bytes_per_second"]), human_rate(same), 100 * b["bytes_per_second"] / same,
            "%.0f%%" % (100 * b["bytes_per_second"] / dram) if dram else "–",
            "%.1e" % b["rel_error"] if "rel_error" in b else ""))
    return lines


def twin_table(runs):
    """Every conserved/<quantity>/naive_products/... beside conserved/<quantity>/symflow/...."""
    lines = ["| quantity | scalar, sizes | naive | symflow | speed-up | rel. error naive | rel. error symflow |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    found = False
    for name, b in runs.items():
        m = re.fullmatch(r"conserved/(\w+)/naive_products/(.+)", name)
        twin = m and runs.get("conserved/%s/symflow/%s" % (m.group(1), m.group(2)))
        if not twin:
            continue
        found = True
        lines.append("| %s | %s | %s | %s | %.3g× | %s | %s |" % (
            m.group(1), m.group(2).replace("/", " "), human_time(b["seconds"]), human_time(twin["seconds"]),
            b["seconds"] / twin["seconds"], "%.1e" % b["rel_error"] if "rel_error" in b else "",
            "%.1e" % twin["rel_error"] if "rel_error" in twin else ""))
    return lines if found else []


def step_table(runs):
    """symflow's generic loops against the hand-written Eigen loops of the same run."""
    lines = ["| loop | symflow | by hand | by hand, X = I skipped | by hand / symflow | loss after 1000 steps (symflow, by hand) |",
             "| --- | --- | --- | --- | --- | --- |"]
    # (symflow's benchmark, its hand-written twins, the row's label) for the loop with its record
    # and for the step alone.
    kinds = ((r"paper_loop/(\w+)/(\w+)/symflow", "paper_loop/%s/%s/by_hand", "paper_loop/%s/%s/by_hand_x_skipped",
              "paper loop, %s, %s"),
             (r"flow/gd_step/(\w+)", "flow/gd_step_by_hand/%s", "flow/gd_step_by_hand_x_skipped/%s",
              "gradient-descent step alone, %s, double"))
    for pattern, hand_name, skipped_name, label in kinds:
        for name, b in runs.items():
            m = re.fullmatch(pattern, name)
            hand = m and runs.get(hand_name % m.groups())
            if not hand:
                continue
            skipped = runs.get(skipped_name % m.groups())
            losses = ("%.6g, %.6g" % (b["loss_1000"], hand["loss_1000"])) if "loss_1000" in b else ""
            lines.append("| %s | %s | %s | %s | %.2f | %s |" % (
                label % m.groups(), human_time(b["seconds"]), human_time(hand["seconds"]),
                human_time(skipped["seconds"]) if skipped else "–", hand["seconds"] / b["seconds"], losses))
    return lines if len(lines) > 2 else []


def compare_tables(path):
    with open(path) as f:
        c = json.load(f)
    lines = ["PyTorch %s (bench/compare/torch_compare.py, medians of %s runs in one invocation; CPU time per step)." % (
        c.get("torch_version", "?"), c.get("repeats", "?")), "",
             "| threads | dtype | activation | PyTorch / step | symflow / step | ratio |", "| --- | --- | --- | --- | --- | --- |"]
    for r in c.get("steps_timing", []):
        lines.append("| %d | %s | %s | %s | %s | %.0f× |" % (r["threads"], r["dtype"], r["activation"],
                     human_time(r["torch_cpu_seconds_per_step"]), human_time(r["symflow_cpu_seconds_per_step"]),
                     r["ratio"]))
    for key, title in (("qstats", "Appendix E sweep"), ("hessian", "full Hessian")):
        rows = c.get(key, [])
        if rows:
            lines += ["", "| %s | threads | PyTorch | symflow | ratio |" % title, "| --- | --- | --- | --- | --- |"]
            for r in rows:
                lines.append("| %s | %d | %s | %s | %.1f× |" % (r.get("activation", "%d parameters" % r.get("parameters", 0)),
                             r["threads"], human_time(r["torch_seconds"]), human_time(r["symflow_seconds"]), r["ratio"]))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="Google Benchmark --benchmark_out JSON")
    parser.add_argument("--compare", help="JSON written by bench/compare/torch_compare.py --json")
    args = parser.parse_args()
    context, runs = load(args.json)
    if not runs:
        sys.exit("bench_summary.py: no benchmark results in %s" % args.json)
    out = ["## Benchmark summary", ""] + context_lines(context) + [""]
    for title, table in (("Conserved quantities at large sizes against the memory bandwidth", bandwidth_table(runs)),
                         ("Naive formula against symflow, with the relative error of each", twin_table(runs)),
                         ("Generic loops against hand-written ones", step_table(runs))):
        if table:
            out += ["### " + title, ""] + table + [""]
    if args.compare:
        out += ["### Side by side with PyTorch", ""] + compare_tables(args.compare) + [""]
    out += ["### All benchmarks", ""] + all_benchmarks_table(runs)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
