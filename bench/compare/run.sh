#!/usr/bin/env bash
# Side-by-side comparison with the paper's PyTorch code (optional; not part of the test suite).
# Builds symflow_compare in Release, then torch_compare.py checks that both follow the same
# trajectories and prints the table of timings (training step, Appendix E sweep, full Hessian).
#
# Usage: bench/compare/run.sh [--quick] [--json FILE] [other torch_compare.py options]
# Needs PyTorch for Python 3: on Debian, `sudo apt-get install python3-torch` (Debian's torch is
# importable by /usr/bin/python3; set PYTHON to use another interpreter).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${SYMFLOW_COMPARE_BUILD:-$root/build/compare}"

python=""
for candidate in ${PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" >/dev/null 2>&1; then
    python="$candidate"
    break
  fi
done
if [[ -z "$python" ]]; then
  echo "run.sh: no Python with PyTorch found. On Debian: sudo apt-get install python3-torch" >&2
  echo "        (then /usr/bin/python3 can import torch; or point PYTHON at an interpreter that can)." >&2
  exit 2
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_BENCH=ON \
      -DSYMFLOW_BUILD_TESTS=OFF -DSYMFLOW_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target symflow_compare -j2
exec "$python" "$here/torch_compare.py" --symflow "$build/bench/symflow_compare" "$@"
