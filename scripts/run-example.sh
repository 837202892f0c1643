#!/usr/bin/env bash
# Sets up, builds and runs the flagship example, Figure 3 of the paper at full scale (the drift of the
# conserved quantity under gradient descent: 6 million steps, 29 s of CPU time spread over the cores),
# writing its CSV and PNG under out/fig3_q_drift. Arguments go to the program (e.g. --quick).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target fig3_q_drift
"$build/examples/fig3_q_drift" --out "$root/out/fig3_q_drift" "$@"
