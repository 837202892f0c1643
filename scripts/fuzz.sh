#!/usr/bin/env bash
# Long run of one of symflow's fuzzers, outside CI (ctest's fuzz.* tests run each for 10 s):
#   scripts/fuzz.sh [idx|safetensors] [RUNS] [BUILD_DIR]
# builds tests/fuzz/fuzz_<TARGET> (default idx: the IDX/gzip readers; safetensors: the safetensors
# reader and the state-dict mapping) with clang and libFuzzer (ASan + UBSan), runs RUNS executions
# (default 1 000 000) on a fresh corpus seeded from the target's seed corpus, prints libFuzzer's
# final statistics and exits non-zero when the fuzzer finds a crash (the input is then kept in
# BUILD_DIR/fuzz-long-TARGET/artifacts/). The seed corpus in the source tree is only read.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-idx}"
runs="${2:-1000000}"
build="${3:-$root/build/fuzz}"
case "$target" in
  idx) seeds="$root/tests/fuzz/corpus" ;;
  safetensors) seeds="$root/tests/fuzz/corpus_safetensors" ;;
  *) echo "fuzz.sh: unknown target '$target' (idx or safetensors)" >&2; exit 2 ;;
esac
fuzzer="$build/tests/fuzz/fuzz_$target"
if [[ ! -x "$fuzzer" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSYMFLOW_BUILD_TESTS=ON \
        -DSYMFLOW_BUILD_EXAMPLES=OFF -DSYMFLOW_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" --target "fuzz_$target"
[[ -x "$fuzzer" ]] || { echo "fuzz.sh: no fuzzer was built (needs clang++ with libFuzzer: apt-get install clang-14 libclang-rt-14-dev; safetensors also nlohmann-json3-dev)" >&2; exit 1; }
work="$build/fuzz-long-$target"
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
echo "fuzz.sh: $runs executions of $fuzzer (clang $("${SYMFLOW_FUZZ_CXX:-clang++-14}" -dumpversion 2>/dev/null || echo '?'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
start=$(date +%s)
"$fuzzer" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
echo "fuzz.sh: $runs executions without a crash in $(( $(date +%s) - start )) s; corpus grew to $(ls "$work/corpus" | wc -l) inputs"
