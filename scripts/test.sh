#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: every test once, in the build that suits it.
#  1. g++, Release, warnings are errors, without the unit tests (SYMFLOW_UNIT_TESTS=OFF): the
#     programs as shipped, so examples in --quick mode and the figure checks on their CSVs, the
#     benchmarks' smoke run, the compile-fail tests, the installed package, the IDX and safetensors
#     fuzzers, the Python module and its pytest suite (the `python` label).
#  2. clang, AddressSanitizer + UndefinedBehaviorSanitizer, unoptimised, warnings are errors: the
#     unit tests, the doc snippets and the MPI sweep (the `unit` label). clang instantiates symflow's
#     templates 2.5-4 times faster than g++ 12 (test_teleport_search: 75 s against 301 s of CPU);
#     each family of unit tests is one translation unit (SYMFLOW_UNITY_TESTS), which saves a quarter
#     of that build's CPU, and lld links the programs. No debug information (-g1 cost a quarter of
#     the build's CPU): AddressSanitizer's reports name the functions, UndefinedBehaviorSanitizer's
#     the file and line; rebuild with -g to step through one. At -O0 the unit tests run in about three
#     minutes on two cores.
# Building the unit tests a second time with g++ -O3 would add about 20 minutes of two cores and
# test no line more. Pass --also-gcc-unit to do it anyway (what a compiler upgrade calls for).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
jobs="$(nproc)"
also_gcc_unit=OFF
[ "${1:-}" = "--also-gcc-unit" ] && also_gcc_unit=ON

# -O2 rather than CMake's Release default -O3: a sixth less compile time for these programs (g++ 12
# spends most of it instantiating templates, and -O3's extra passes on top), the same code paths.
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DSYMFLOW_BUILD_TESTS=ON \
      -DSYMFLOW_UNIT_TESTS=$also_gcc_unit -DSYMFLOW_BUILD_EXAMPLES=ON -DSYMFLOW_BUILD_BENCH=ON \
      -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

# The programs' tests run while the unit tests compile (their output is shown when both are done):
# examples, fuzzers and compile-fail checks leave cores idle that the sanitizer build fills.
release_log="$build/ctest.log"
ctest --test-dir "$build" -j "$jobs" --output-on-failure >"$release_log" 2>&1 &
release_tests=$!
trap 'kill "$release_tests" 2>/dev/null || true' EXIT

asan="$root/build/sanitize"
sanitize_cxx="$(command -v clang++-14 || command -v clang++ || command -v g++)"
linker=()
command -v ld.lld >/dev/null && [[ "$sanitize_cxx" == *clang* ]] && linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
cmake -S "$root" -B "$asan" -DCMAKE_CXX_COMPILER="$sanitize_cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0" -DSYMFLOW_SANITIZE=ON \
      -DSYMFLOW_BUILD_TESTS=ON -DSYMFLOW_UNITY_TESTS=ON -DSYMFLOW_BUILD_EXAMPLES=OFF -DSYMFLOW_BUILD_BENCH=OFF -DSYMFLOW_PYTHON=OFF \
      "${linker[@]}" >/dev/null
cmake --build "$asan" -j "$jobs" --target unit_tests

release_status=0
wait "$release_tests" || release_status=$?
trap - EXIT
cat "$release_log"
if [ "$release_status" -ne 0 ]; then
  echo "scripts/test.sh: the programs' tests failed (above)" >&2
  exit "$release_status"
fi

ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$asan" -j "$jobs" --output-on-failure -L unit
