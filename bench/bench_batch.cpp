// Lockstep batches of runs (flow/batch_run.hpp) on the paper's Appendix D problem, beside the
// single run of bench_paper_loop.cpp (paper_loop/<activation>/<scalar>/symflow, same binary, same
// run), and the machine's peak multiply-add throughput measured in the same run.
//
// batch/paper_loop/<activation>/<scalar>/lanes_<W>: run_batch over W runs of the paper's network
// (input 10, hidden 50, output 5, X = I, mean squared error, learning rate 0.01 per lane, each lane
// its own Y and θ_0), 1000 steps per iteration, recording every lane's loss and Q (Tr Q for the
// linear network, eq. (48) summed otherwise, lane_values) at every step: the same bookkeeping as
// the single-run loop. Counters: run_step_ns, the time per run and step (iteration / (1000·W));
// fma_per_second, the multiply-adds of the three products per step (3·m·h·k = 7 500 per run)
// per second, to set against peak/fma/<scalar>; loss_1000 of lane 0 (equal to the single run's).
//
// peak/fma/<scalar>: 12 independent chains of SIMD fused multiply-adds on the widest packet Eigen
// uses here; fma_per_second counts scalar multiply-adds (lanes × instructions). The batched step's
// fraction of the peak is the ratio of the two fma_per_second counters of one run.
#include <benchmark/benchmark.h>

#include <array>
#include <random>
#include <utility>
#include <vector>

#include <symflow/conserved/batch_quantity.hpp>
#include <symflow/flow/batch_run.hpp>
#include <symflow/symflow.hpp>

#include "paper_problem.hpp"

namespace sf = symflow;

namespace {

using symflow_bench::h;
using symflow_bench::m;
using symflow_bench::n;
using symflow_bench::PaperProblem;

template <class Net>
auto recorded_quantity(const Net& net) {
  if constexpr (std::is_same_v<typename Net::Activation, sf::Identity>) return sf::LayerImbalanceTrace<Net>(net);
  else return sf::summed(sf::ElementwiseQuantity<Net>(net));
}

template <class S, class Act, int W>
void BM_BatchPaperLoop(benchmark::State& state) {
  using Problem = PaperProblem<S, Act>;
  using Net = typename Problem::Net;
  using Obj = decltype(Problem{}.objective);
  const Net net;
  constexpr int steps = 1000;
  // Lane 0 is the benchmark's single run; the others have their own targets and starts.
  std::vector<Obj> objectives;
  sf::BatchParams<Net, W> theta0(net);
  std::mt19937_64 rng(7);
  for (int l = 0; l < W; ++l) {
    const Problem p;
    objectives.emplace_back(net, sf::MeanSquaredError{}, Problem::X::Identity(),
                            l == 0 ? Problem::target() : sf::random_normal<typename Problem::Y>(m, n, rng));
    theta0.set_lane(l, l == 0 ? p.theta : sf::random_params(net, rng, 0.1));
  }
  const sf::BatchObjective<Obj, W> batch(objectives);
  const auto quantity = recorded_quantity(net);
  std::vector<std::array<S, W>> losses(steps + 1), qs(steps + 1);
  sf::BatchParams<Net, W> theta = theta0;
  auto run = [&] {
    theta = theta0;
    sf::run_batch(sf::GradientDescent{0.01}, batch, theta, sf::Stopping{.max_steps = steps},
                  [&](const sf::BatchSnapshot<Net, W>& s) {
                    const auto u = static_cast<std::size_t>(s.step);
                    for (int l = 0; l < W; ++l) losses[u][static_cast<std::size_t>(l)] = s.loss[l];
                    qs[u] = sf::lane_values(quantity, s.theta);
                  });
  };
  for (auto _ : state) run();
  benchmark::DoNotOptimize(losses.data());
  benchmark::DoNotOptimize(qs.data());
  const double run_steps = static_cast<double>(state.iterations()) * steps * W;
  state.counters["run_step_ns"] = benchmark::Counter(run_steps * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["fma_per_second"] = benchmark::Counter(run_steps * 3.0 * m * h * n, benchmark::Counter::kIsRate);
  // loss_1000 as bench_paper_loop reports it: the loss returned by the 1000th step, L(θ_999).
  state.counters["loss_1000"] = static_cast<double>(losses[steps - 1][0]);
}

/// One round of multiply-adds on every chain, unrolled at compile time: with constant indices the
/// chains live in registers at -O2 too (a run-time loop over an array of 12 packets is left rolled
/// by g++ -O2, which then loads and stores every chain and measures the store-to-load latency).
template <class Packet, std::size_t... C>
EIGEN_ALWAYS_INLINE void fma_round(Packet* acc, const Packet& a, const Packet& b, std::index_sequence<C...>) {
  ((acc[C] = Eigen::internal::pmadd(acc[C], a, b)), ...);
}

/// 12 independent chains of packet multiply-adds: enough in flight to cover the FMA latency on
/// two pipes; the multiplier stays near 1 so that nothing overflows or goes subnormal.
template <class S>
void BM_PeakFma(benchmark::State& state) {
  using Packet = typename Eigen::internal::packet_traits<S>::type;
  constexpr int lanes = Eigen::internal::packet_traits<S>::size;
  constexpr int chains = 12, rounds = 1024;
  using namespace Eigen::internal;
  const Packet a = pset1<Packet>(S(0.999999)), b = pset1<Packet>(S(1e-7));
  for (auto _ : state) {
    Packet acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = pset1<Packet>(S(c));
    for (int r = 0; r < rounds; ++r) fma_round(acc, a, b, std::make_index_sequence<chains>{});
    for (int c = 0; c < chains; ++c) benchmark::DoNotOptimize(acc[c]);
  }
  state.counters["fma_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * chains * rounds * lanes, benchmark::Counter::kIsRate);
  state.counters["lanes"] = lanes;
}

}  // namespace

BENCHMARK_TEMPLATE(BM_PeakFma, double)->Name("peak/fma/double");
BENCHMARK_TEMPLATE(BM_PeakFma, float)->Name("peak/fma/float");

#define SYMFLOW_BENCH_BATCH(S, A, label, W) \
  BENCHMARK_TEMPLATE(BM_BatchPaperLoop, S, A, W)->Name("batch/paper_loop/" label "/" #S "/lanes_" #W)->Unit(benchmark::kMicrosecond)

SYMFLOW_BENCH_BATCH(double, sf::Identity, "identity", 8);
SYMFLOW_BENCH_BATCH(double, sf::ReLU, "relu", 8);
SYMFLOW_BENCH_BATCH(double, sf::Tanh, "tanh", 8);
SYMFLOW_BENCH_BATCH(double, sf::Sigmoid, "sigmoid", 8);
SYMFLOW_BENCH_BATCH(float, sf::Identity, "identity", 16);
SYMFLOW_BENCH_BATCH(float, sf::ReLU, "relu", 16);
SYMFLOW_BENCH_BATCH(float, sf::Tanh, "tanh", 16);
SYMFLOW_BENCH_BATCH(float, sf::Sigmoid, "sigmoid", 16);
// Four doubles or eight floats: one 256-bit register per lane vector, the lanes of the figures'
// batches (run_many<4>), which step as fast per run as 512-bit ones on AMD Zen 4.
SYMFLOW_BENCH_BATCH(double, sf::Identity, "identity", 4);
SYMFLOW_BENCH_BATCH(double, sf::ReLU, "relu", 4);
SYMFLOW_BENCH_BATCH(double, sf::Tanh, "tanh", 4);
SYMFLOW_BENCH_BATCH(double, sf::Sigmoid, "sigmoid", 4);
SYMFLOW_BENCH_BATCH(float, sf::Identity, "identity", 8);
SYMFLOW_BENCH_BATCH(float, sf::ReLU, "relu", 8);
SYMFLOW_BENCH_BATCH(float, sf::Tanh, "tanh", 8);
SYMFLOW_BENCH_BATCH(float, sf::Sigmoid, "sigmoid", 8);
// Two registers per lane vector: more independent sums in flight per loaded operand.
SYMFLOW_BENCH_BATCH(double, sf::Identity, "identity", 16);
SYMFLOW_BENCH_BATCH(double, sf::Tanh, "tanh", 16);
