#!/usr/bin/env bash
# Long run of the IDX/gzip fuzzer, outside CI (ctest's fuzz.idx_parser runs it for 20 s):
#   scripts/fuzz-idx.sh [RUNS] [BUILD_DIR]
# builds tests/fuzz/fuzz_idx with clang and libFuzzer (ASan + UBSan), runs RUNS executions
# (default 1 000 000) on a fresh corpus seeded from tests/fuzz/corpus, prints libFuzzer's final
# statistics and exits non-zero when the fuzzer finds a crash (the input is then kept in
# BUILD_DIR/fuzz-long/artifacts/). The seed corpus in the source tree is only read.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-1000000}"
build="${2:-$root/build/fuzz}"
if [[ ! -x "$build/tests/fuzz/fuzz_idx" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_TESTS=ON \
        -DSYMFLOW_BUILD_EXAMPLES=OFF -DSYMFLOW_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" --target fuzz_idx
fuzzer="$build/tests/fuzz/fuzz_idx"
[[ -x "$fuzzer" ]] || { echo "fuzz-idx.sh: no fuzzer was built (needs clang++ with libFuzzer: apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
work="$build/fuzz-long"
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
echo "fuzz-idx.sh: $runs executions of $fuzzer (clang $("${SYMFLOW_FUZZ_CXX:-clang++-14}" -dumpversion 2>/dev/null || echo '?'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
start=$(date +%s)
"$fuzzer" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$work/artifacts/" "$work/corpus" "$root/tests/fuzz/corpus"
echo "fuzz-idx.sh: $runs executions without a crash in $(( $(date +%s) - start )) s; corpus grew to $(ls "$work/corpus" | wc -l) inputs"
