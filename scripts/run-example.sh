#!/usr/bin/env bash
# Sets up, builds the examples and runs the main one, writing its CSV and PNG under out/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target two_layer_imbalance
"$build/examples/two_layer_imbalance" --out "$root/out/two_layer_imbalance" "$@"
