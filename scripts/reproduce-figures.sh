#!/usr/bin/env bash
# Builds the figure programs and runs each at the paper's full scale (their defaults): every CSV under
# OUT/<program>/, every PNG also gathered in OUT itself, and the wall-clock time of each run in
# OUT/timings.csv. OUT is the first argument, out/figures by default. Extra arguments after OUT are
# passed to every program (e.g. --seed 2). The build folder is build/release, or $SYMFLOW_BUILD_DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/out/figures}"
shift || true
figures=(fig1_valley fig3_q_drift fig4_5_q_distribution fig6_convergence fig7_radial_convergence fig8_hessian_spectrum)

missing=()
for f in "${figures[@]}"; do
  [ -f "$root/examples/$f.cpp" ] || missing+=("examples/$f.cpp")
done
if ((${#missing[@]})); then
  echo "reproduce-figures: cannot reproduce every figure, missing: ${missing[*]}" >&2
  exit 1
fi

"$root/scripts/setup.sh"
build="${SYMFLOW_BUILD_DIR:-$root/build/release}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${figures[@]}"

mkdir -p "$out"
# Wall-clock seconds since `start` (nanoseconds), with one decimal.
elapsed() { local ms=$((($(date +%s%N) - $1) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
echo "program,seconds" > "$out/timings.csv"
all_start=$(date +%s%N)
for f in "${figures[@]}"; do
  echo "== $f" >&2
  start=$(date +%s%N)
  "$build/examples/$f" --out "$out/$f" "$@"
  echo "$f,$(elapsed "$start")" >> "$out/timings.csv"
  cp "$out/$f"/*.png "$out/" 2>/dev/null || echo "reproduce-figures: $f wrote no PNG (is gnuplot installed?)" >&2
done
echo "all,$(elapsed "$all_start")" >> "$out/timings.csv"
echo "reproduce-figures: every figure is in $out; wall-clock seconds per program:" >&2
sed 's/,/: /' "$out/timings.csv" | tail -n +2 >&2
