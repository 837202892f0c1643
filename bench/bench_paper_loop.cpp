// The paper's Appendix D training loop at its size (input 10, hidden 50, output 5, X = I, mean
// squared error), as bench/compare/ runs it against PyTorch: a gradient-descent step, then the
// loss and the conserved quantity recorded every step. Also the exact Hessian-vector product and
// the full Hessian of that network (750 parameters), and the Appendix E sweep of Q over 1000
// Xavier draws at 100×100×100.
//
// paper_loop/<activation>/<scalar>/symflow: one step with its bookkeeping: L(θ_t) as the step's own
// evaluation returns it (one network evaluation per step) and Q(θ_{t+1}), LayerImbalanceTrace for
// the linear network and eq. (48) (ElementwiseQuantity) otherwise, both appended to a record.
// .../by_hand and .../by_hand_x_skipped: the yardstick, the same loop hand-written with fixed-size
// Eigen matrices. Each reports loss_1000, the loss after 1000 steps from the same start (learning
// rate 0.01), run after the timing, so that the loops are seen to compute the same thing.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <symflow/conserved.hpp>
#include <symflow/symflow.hpp>

#include "paper_problem.hpp"

namespace sf = symflow;

namespace {

using symflow_bench::HandWrittenLoop;
using symflow_bench::PaperProblem;

template <class Net>
typename Net::Scalar conserved(const Net& net, const typename Net::Params& theta) {
  if constexpr (std::is_same_v<typename Net::Activation, sf::Identity>) {
    return sf::LayerImbalanceTrace<Net>(net).value(theta);
  } else {
    return sf::ElementwiseQuantity<Net>(net).value(theta).sum();
  }
}

/// symflow's loop: one gd_step (which returns L(θ_t) from its own evaluation), then Q(θ_{t+1}),
/// both recorded. loss_1000 is the loss after 1000 steps from the start, run after the timing.
template <class S, class Act>
void BM_PaperLoopStep(benchmark::State& state) {
  PaperProblem<S, Act> p;
  typename PaperProblem<S, Act>::Net::Params grad;
  const auto theta0 = p.theta;
  const S lr = S(1e-2);
  std::vector<S> losses, qs;
  losses.reserve(1 << 16);
  qs.reserve(1 << 16);
  auto step = [&] {
    losses.push_back(sf::gd_step(p.objective, p.theta, lr, grad));
    qs.push_back(conserved(p.net, p.theta));
    if (losses.size() == losses.capacity()) {  // keep the recording allocation-free
      losses.clear();
      qs.clear();
    }
  };
  for (auto _ : state) step();
  benchmark::DoNotOptimize(losses.data());
  benchmark::DoNotOptimize(qs.data());
  p.theta = theta0;
  losses.clear();
  for (int t = 0; t < 1000; ++t) step();
  state.counters["loss_1000"] = static_cast<double>(losses[999]);
}

/// The yardstick: the same loop with symflow_bench::HandWrittenLoop, Q from its formula.
template <class S, class Act, bool WithX = true>
void BM_PaperLoopByHand(benchmark::State& state) {
  HandWrittenLoop<S, Act, WithX> loop(S(1e-2));
  std::vector<S> losses, qs;
  losses.reserve(1 << 16);
  qs.reserve(1 << 16);
  auto step = [&] {
    losses.push_back(loop.step());
    qs.push_back(loop.quantity());
    if (losses.size() == losses.capacity()) {
      losses.clear();
      qs.clear();
    }
  };
  for (auto _ : state) step();
  benchmark::DoNotOptimize(losses.data());
  benchmark::DoNotOptimize(qs.data());
  loop.restart();
  losses.clear();
  for (int t = 0; t < 1000; ++t) step();
  state.counters["loss_1000"] = static_cast<double>(losses[999]);
}

template <class Act>
void BM_HessianVectorProduct(benchmark::State& state) {
  PaperProblem<double, Act> p;
  std::mt19937_64 rng(3);
  const auto v = sf::random_params(p.net, rng);
  for (auto _ : state) benchmark::DoNotOptimize(p.objective.hessian_vector_product(p.theta, v));
}

template <class Act>
void BM_Hessian(benchmark::State& state) {
  PaperProblem<double, Act> p;
  for (auto _ : state) benchmark::DoNotOptimize(p.objective.hessian(p.theta));
  state.counters["parameters"] = static_cast<double>(p.net.size());
}

/// Appendix E: Tr Q of 1000 Xavier initialisations of the linear network at m = h = n = 100, as a
/// sweep on one thread (the benchmarks compare one core with one core). Each draw seeds its own
/// generator; drawing the 20 000 normal weights dominates, Tr Q itself is one streaming pass.
void BM_QStatisticsSweep(benchmark::State& state) {
  using Net = sf::TwoLayer<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const sf::Index size = state.range(0);
  const auto draws = static_cast<std::uint64_t>(state.range(1));
  const Net net({size, size, size});
  const sf::LayerImbalanceTrace<Net> quantity(net);
  double mean = 0;
  for (auto _ : state) {
    const auto q = sf::sweep(draws, [&](std::uint64_t i) {
      auto rng = sf::sweep_generator(2023, i);
      return quantity.value(sf::initialize(net, sf::XavierNormal{}, rng));
    }, 1);
    mean = 0;
    for (double v : q) mean += v / static_cast<double>(draws);
  }
  state.counters["mean_trace_q"] = mean;
}

}  // namespace

BENCHMARK(BM_QStatisticsSweep)->Name("sweep/q_statistics/xavier")->Args({100, 1000})->Unit(benchmark::kMillisecond);
#define SYMFLOW_BENCH_PAPER_LOOP(S, A, label)                                                                 \
  BENCHMARK_TEMPLATE(BM_PaperLoopStep, S, A)->Name("paper_loop/" label "/" #S "/symflow");                     \
  BENCHMARK_TEMPLATE(BM_PaperLoopByHand, S, A)->Name("paper_loop/" label "/" #S "/by_hand");                   \
  BENCHMARK_TEMPLATE(BM_PaperLoopByHand, S, A, false)->Name("paper_loop/" label "/" #S "/by_hand_x_skipped")

SYMFLOW_BENCH_PAPER_LOOP(double, sf::Identity, "identity");
SYMFLOW_BENCH_PAPER_LOOP(double, sf::ReLU, "relu");
SYMFLOW_BENCH_PAPER_LOOP(double, sf::Tanh, "tanh");
SYMFLOW_BENCH_PAPER_LOOP(double, sf::Sigmoid, "sigmoid");
SYMFLOW_BENCH_PAPER_LOOP(float, sf::Identity, "identity");
SYMFLOW_BENCH_PAPER_LOOP(float, sf::ReLU, "relu");
SYMFLOW_BENCH_PAPER_LOOP(float, sf::Tanh, "tanh");
SYMFLOW_BENCH_PAPER_LOOP(float, sf::Sigmoid, "sigmoid");
BENCHMARK_TEMPLATE(BM_HessianVectorProduct, sf::Identity)->Name("model/hessian_vector_product/identity/750");
BENCHMARK_TEMPLATE(BM_HessianVectorProduct, sf::Tanh)->Name("model/hessian_vector_product/tanh/750");
BENCHMARK_TEMPLATE(BM_Hessian, sf::Identity)->Name("model/hessian/identity/750")->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Hessian, sf::Tanh)->Name("model/hessian/tanh/750")->Unit(benchmark::kMillisecond);
