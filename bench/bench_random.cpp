// SPDX-License-Identifier: MIT
// Gaussian draws, the cost that dominates sweeps over initialisations: symflow's ziggurat sampler
// (symflow::NormalDistribution, behind symflow::initialize) beside std::normal_distribution, both
// on std::mt19937_64, and the raw generator they share.
#include <benchmark/benchmark.h>

#include <random>

#include <symflow/core/normal_distribution.hpp>

namespace {

void BM_Generator(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::uint64_t sum = 0;
  for (auto _ : state) sum += rng();
  benchmark::DoNotOptimize(sum);
}

template <class Distribution>
void BM_Normal(benchmark::State& state) {
  std::mt19937_64 rng(1);
  Distribution normal;
  double sum = 0;
  for (auto _ : state) sum += normal(rng);
  benchmark::DoNotOptimize(sum);
}

}  // namespace

BENCHMARK(BM_Generator)->Name("random/mt19937_64");
BENCHMARK_TEMPLATE(BM_Normal, symflow::NormalDistribution)->Name("random/normal/symflow_ziggurat");
BENCHMARK_TEMPLATE(BM_Normal, std::normal_distribution<double>)->Name("random/normal/std_normal_distribution");
