#!/usr/bin/env bash
# Builds the figure programs and runs each at the paper's full scale (their defaults): every CSV under
# OUT/<program>/, every PNG also gathered in OUT itself, and the wall-clock and CPU seconds of each
# run (CPU: user + system of the program and its gnuplot, from /usr/bin/time when installed) in
# OUT/timings.csv, with the total and the load averages before and after. OUT is the first argument,
# out/figures by default. Extra arguments after OUT are passed to every program (e.g. --seed 2); the
# runs of the reference code's configurations (--published) follow them with its own seeds. The
# build folder is build/release, or $SYMFLOW_BUILD_DIR. docs/figures.md#timing has measured times.
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
cmake --build "$build" -j "$(nproc)" --target "${figures[@]}" ensemble_fashion_mnist

mkdir -p "$out"
# Wall-clock seconds since `start` (nanoseconds), with one decimal.
elapsed() { local ms=$((($(date +%s%N) - $1) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%U %S' -o "$out/.cpu")
echo "program,wall_seconds,cpu_seconds" > "$out/timings.csv"
load_before="$(load)"
all_start=$(date +%s%N)
all_cpu=0
# run NAME PROGRAM ARGS...: one run into OUT/NAME, its PNGs gathered in OUT as <png> (or, for the
# reference code's configurations, <png without .png>_<suffix of NAME>.png).
run() {
  local name="$1" program="$2"
  shift 2
  echo "== $name" >&2
  local start cpu="" wall
  start=$(date +%s%N)
  "${timer[@]}" "$build/examples/$program" --out "$out/$name" "$@"
  wall="$(elapsed "$start")"
  if ((${#timer[@]})); then
    cpu="$(awk '{ printf "%.1f", $1 + $2 }' "$out/.cpu")"
    all_cpu="$(awk -v a="$all_cpu" -v b="$cpu" 'BEGIN { printf "%.1f", a + b }')"
  fi
  echo "$name,$wall,$cpu" >> "$out/timings.csv"
  local suffix="${name#"$program"}" png found=0
  for png in "$out/$name"/*.png; do
    [ -f "$png" ] || continue
    found=1
    png="$(basename "$png")"
    cp "$out/$name/$png" "$out/${png%.png}$suffix.png"
  done
  ((found)) || echo "reproduce-figures: $name wrote no PNG (is gnuplot installed?)" >&2
}
for f in "${figures[@]}"; do
  run "$f" "$f" "$@"
done
# The reference code's configurations (docs/figures.md#the-published-configurations): Figures 3, 6, 7
# and 8 in float32 as published and from the same draws in float64, Figures 4-5 with its draws and its Q.
run fig3_q_drift_published fig3_q_drift --published
run fig3_q_drift_published_double fig3_q_drift --published --dtype double
run fig4_5_q_distribution_published fig4_5_q_distribution --published
for f in fig6_convergence fig7_radial_convergence fig8_hessian_spectrum; do
  run "${f}_published" "$f" --published
  run "${f}_published_double" "$f" --published --dtype double
done
# Figures 9-10 (Appendix H) with the notebooks' configuration, on Fashion-MNIST (scripts/setup.sh installs it).
run ensemble_fashion_mnist_published ensemble_fashion_mnist --published
rm -f "$out/.cpu"
echo "all,$(elapsed "$all_start"),$( ((${#timer[@]})) && echo "$all_cpu")" >> "$out/timings.csv"
echo "reproduce-figures: every figure is in $out; seconds per program (wall, CPU), on $(nproc) cores" \
     "at load average $load_before before and $(load) after:" >&2
tail -n +2 "$out/timings.csv" | awk -F, '{ printf "  %-26s %6s s wall  %6s s CPU\n", $1 ":", $2, $3 }' >&2
