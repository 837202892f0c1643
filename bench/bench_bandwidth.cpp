// What the machine can stream: the memory bandwidth that the large-size conserved quantities of
// bench_conserved.cpp are measured against, in the same run.
//
// stream/<scalar>/theta_<m>x<h>x<n>: a sum over an array with exactly the footprint of θ of the
// two-layer network of those widths (h·n + m·h scalars), read once per iteration with 32
// independent partial sums (memory-bound, never latency-bound), reported as bytes_per_second.
// conserved/<quantity>/.../<m>x<h>x<n> reports the bytes of θ it reads in the same way, so the
// ratio of the two is the fraction of the bandwidth the quantity reaches (scripts/bench_summary.py
// computes it). At (1000, 1000, 1000) θ (16 MB in double) still fits the 32 MiB L3 cache; at
// (4000, 4000, 4000) (256 MB) it does not. stream/double/dram_1GiB is far beyond every cache and
// gives the DRAM bandwidth of one core; stream_two_threads/... that of both cores.
//
// The .../4000x4000x4000 and ..._1GiB cases are left out of the CI smoke test.
#include <benchmark/benchmark.h>

#include <string>
#include <thread>
#include <vector>

#include <symflow/core/reduction.hpp>

namespace sf = symflow;

namespace {

template <class S>
double stream_sum(const S* x, sf::Index n) {
  constexpr int lanes = 32;
  sf::accumulator_t<S> partial[lanes] = {};
  sf::Index i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int j = 0; j < lanes; ++j) partial[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) partial[j] += x[i];
  double total = 0;
  for (int j = 0; j < lanes; ++j) total += static_cast<double>(partial[j]);
  return total;
}

template <class S>
std::vector<S> stream_array(sf::Index bytes) {
  std::vector<S> x(static_cast<std::size_t>(bytes) / sizeof(S));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<S>((i % 7) * 0.25);  // touches every page
  return x;
}

template <class S>
void BM_Stream(benchmark::State& state, sf::Index bytes) {
  const std::vector<S> x = stream_array<S>(bytes);
  for (auto _ : state) benchmark::DoNotOptimize(stream_sum(x.data(), static_cast<sf::Index>(x.size())));
  state.SetBytesProcessed(state.iterations() * bytes);
}

// Both cores: each thread streams its own half of one shared array.
template <class S>
void BM_StreamTwoThreads(benchmark::State& state, sf::Index bytes) {
  const std::vector<S> x = stream_array<S>(bytes);
  const sf::Index half = static_cast<sf::Index>(x.size()) / 2;
  for (auto _ : state) {
    double sums[2] = {0, 0};
    std::thread other([&] { sums[1] = stream_sum(x.data() + half, half); });
    sums[0] = stream_sum(x.data(), half);
    other.join();
    benchmark::DoNotOptimize(sums[0] + sums[1]);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

template <class S>
void add_theta_stream(const char* scalar, sf::Index size) {
  const std::string shape = std::to_string(size) + "x" + std::to_string(size) + "x" + std::to_string(size);
  benchmark::RegisterBenchmark(("stream/" + std::string(scalar) + "/theta_" + shape).c_str(), &BM_Stream<S>,
                               2 * size * size * static_cast<sf::Index>(sizeof(S)))
      ->Unit(benchmark::kMillisecond);
}

const bool registered = [] {
  for (const sf::Index size : {1000, 4000}) {
    add_theta_stream<double>("double", size);
    add_theta_stream<float>("float", size);
  }
  benchmark::RegisterBenchmark("stream/double/dram_1GiB", &BM_Stream<double>, sf::Index{1} << 30)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stream_two_threads/double/dram_1GiB", &BM_StreamTwoThreads<double>, sf::Index{1} << 30)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
