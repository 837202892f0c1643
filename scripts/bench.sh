#!/usr/bin/env bash
# Builds symflow's benchmarks in Release (-march=native) and runs the whole suite once, writing
#   OUT/bench.json  Google Benchmark's JSON (--benchmark_out), every figure of one run
#   OUT/bench.md    the Markdown summary (scripts/bench_summary.py): every benchmark, and the
#                   ratios computed from that same run (Tr Q as a fraction of the measured memory
#                   bandwidth, naive/symflow, symflow's generic step against the hand-written loop;
#                   with --compare FILE also the PyTorch ratios from bench/compare/run.sh's JSON)
#
# Usage: scripts/bench.sh [--out OUT] [--compare compare.json] [Google Benchmark flags...]
#   e.g. scripts/bench.sh --out /tmp/b --benchmark_filter='q_trace|stream'
# Each benchmark is repeated (3 times by default, SYMFLOW_BENCH_REPETITIONS; the O(h³) cases at
# (4000, 4000, 4000) once) for at least SYMFLOW_BENCH_MIN_TIME seconds (0.2) each, and the median
# kept; the whole suite takes a few minutes. The summary reports CPU time, which a loaded machine
# inflates less than wall-clock time. The build uses at most two jobs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/bench-results"
compare=()
extra=()
while (($#)); do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --compare) compare=(--compare "$2"); shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
build="${SYMFLOW_BENCH_BUILD:-$root/build/bench}"
repetitions="${SYMFLOW_BENCH_REPETITIONS:-3}"
min_time="${SYMFLOW_BENCH_MIN_TIME:-0.2}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_BENCH=ON \
      -DSYMFLOW_BUILD_TESTS=OFF -DSYMFLOW_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target symflow_bench -j2
mkdir -p "$out"
"$build/bench/symflow_bench" --benchmark_out="$out/bench.json" --benchmark_out_format=json \
  --benchmark_repetitions="$repetitions" --benchmark_min_time="$min_time" --benchmark_report_aggregates_only=true \
  "${extra[@]}"
python3 "$root/scripts/bench_summary.py" "$out/bench.json" "${compare[@]}" > "$out/bench.md"
echo "bench.sh: wrote $out/bench.json and $out/bench.md" >&2
