#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: every test once, in the build that suits it.
#  1. g++, Release -O1, warnings are errors: the programs a user runs for results — the
#     examples in --quick mode, the figure checks on their CSVs and the benchmarks' smoke run (under
#     the sanitizers at -O0 it would take 8 minutes instead of 13 s) — and what a user's compiler must
#     say or do: the compile-fail tests, the installed package (find_package), and the IDX and
#     safetensors fuzzers (built with clang's libFuzzer whatever the compiler).
#  2. clang, unoptimised, warnings are errors, AddressSanitizer + UndefinedBehaviorSanitizer (less
#     the pointer checks of SYMFLOW_SANITIZE_SKIP in CMakeLists.txt): the unit tests, the doc
#     snippets and the MPI sweep (label `unit`), and, without the sanitizers (an
#     interpreter would need their runtime preloaded), the Python module and its pytest suite (label
#     `python`). clang at -O0 instantiates symflow's templates 2.5-4 times faster than g++ 12 at -O2
#     (test_teleport_search: 75 s against 301 s of CPU; the module's laws.cpp 20 s against 52 s);
#     each family of unit tests is one translation unit (SYMFLOW_UNITY_TESTS), which saves a quarter
#     of that build's CPU, and lld links the programs. No debug information (-g1 cost a quarter of
#     the build's CPU): AddressSanitizer's reports name the functions, UndefinedBehaviorSanitizer's
#     the file and line; rebuild with -g to step through one.
# The programs' tests run while the clang build compiles: examples, fuzzers and compile-fail checks
# leave cores idle that the clang build fills. (Both builds at once, four compilers on two cores,
# were slower: 1230 s of wall clock against 1149 s for this order; docs/performance.md.)
# Building the unit tests and the Python module a second time with g++ would add about
# 20 minutes of two cores and test no line more. Pass --also-gcc to do it anyway (what a compiler
# upgrade calls for).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
jobs="$(nproc)"
also_gcc=OFF
[ "${1:-}" = "--also-gcc" ] && also_gcc=ON

# -O1 rather than CMake's Release default -O3: the same code paths, compiled in 440 s of CPU instead
# of 594 s at -O2; the programs' tests, short by design, took 93 s of CPU against 85 s at -O2
# (docs/performance.md). A folder of its own: build/release, where scripts/run-example.sh and
# reproduce-figures.sh build, keeps CMake's Release flags for timings.
release="$root/build/test-programs"
cmake -S "$root" -B "$release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
      -DSYMFLOW_BUILD_TESTS=ON -DSYMFLOW_UNIT_TESTS=$also_gcc -DSYMFLOW_BUILD_EXAMPLES=ON \
      -DSYMFLOW_BUILD_BENCH=ON -DSYMFLOW_PYTHON=$also_gcc -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null

sanitize="$root/build/sanitize"
clang_cxx="$(command -v clang++-14 || command -v clang++ || command -v g++)"
linker=()
if command -v ld.lld >/dev/null && [[ "$clang_cxx" == *clang* ]]; then
  linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld)
fi
cmake -S "$root" -B "$sanitize" -DCMAKE_CXX_COMPILER="$clang_cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0" \
      -DSYMFLOW_SANITIZE=ON -DSYMFLOW_BUILD_TESTS=ON -DSYMFLOW_UNITY_TESTS=ON -DSYMFLOW_BUILD_EXAMPLES=OFF \
      -DSYMFLOW_BUILD_BENCH=OFF -DSYMFLOW_PYTHON=ON -DCMAKE_COMPILE_WARNING_AS_ERROR=ON "${linker[@]}" >/dev/null

python_targets=()  # the module is skipped, with a message, where pybind11 or NumPy is missing
cmake --build "$sanitize" --target help | grep -w symflow_python >/dev/null && python_targets=(symflow_python)

cmake --build "$release" -j "$jobs"
release_log="$release/ctest.log"
ctest --test-dir "$release" -j "$jobs" --output-on-failure >"$release_log" 2>&1 &
release_tests=$!
trap 'kill "$release_tests" 2>/dev/null || true' EXIT
cmake --build "$sanitize" -j "$jobs" --target unit_tests "${python_targets[@]}"

release_status=0
wait "$release_tests" || release_status=$?
trap - EXIT
cat "$release_log"
if [ "$release_status" -ne 0 ]; then
  echo "scripts/test.sh: the programs' tests failed (above)" >&2
  exit "$release_status"
fi

ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$sanitize" -j "$jobs" --output-on-failure -L 'unit|python'
