// One integrator step at the paper's experiment size: input 10, hidden 50, output 5, X = I (10
// samples), mean squared error. The yardstick is a hand-written fixed-size Eigen gradient-descent
// step for the same network; symflow's generic step (which also keeps the loss at every step)
// should match it.
#include <benchmark/benchmark.h>

#include <random>

#include <symflow/symflow.hpp>

#include "paper_problem.hpp"

namespace sf = symflow;
using sf::Index;

namespace {

using symflow_bench::h;
using symflow_bench::m;
using symflow_bench::n;
using X = Eigen::Matrix<double, n, n>;
template <class Activation>
using Problem = symflow_bench::PaperProblem<double, Activation>;

/// symflow: one gradient-descent step, keeping L(θ) (what run() does at every step).
template <class Activation>
void BM_GradientDescentStep(benchmark::State& state) {
  Problem<Activation> p;
  const sf::GradientDescent gd{1e-3};
  auto s = gd.start(p.objective, p.theta);
  double loss = 0;
  for (auto _ : state) {
    loss = sf::step(gd, s, p.objective, p.theta);
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  state.counters["loss"] = loss;
}

/// The yardstick: the same step written out by hand (symflow_bench::HandWrittenLoop).
template <class Activation, bool WithX = true>
void BM_HandWrittenGradientDescentStep(benchmark::State& state) {
  symflow_bench::HandWrittenLoop<double, Activation, WithX> loop(1e-3);
  double loss = 0;
  for (auto _ : state) {
    loss = loop.step();
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  state.counters["loss"] = loss;
}

/// The same gradient-descent step with every width given at run time (heap-allocated matrices).
template <class Activation>
void BM_GradientDescentStepDynamic(benchmark::State& state) {
  using Net = sf::TwoLayer<double, Activation, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({n, h, m});
  const sf::Objective objective(net, sf::MeanSquaredError{}, Eigen::MatrixXd(X::Identity()),
                                Eigen::MatrixXd(Problem<Activation>::target()));
  Eigen::VectorXd theta = Problem<Activation>::initial(typename Problem<Activation>::Net());
  const sf::GradientDescent gd{1e-3};
  auto s = gd.start(objective, theta);
  double loss = 0;
  for (auto _ : state) {
    loss = sf::step(gd, s, objective, theta);
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  state.counters["loss"] = loss;
}

/// One RK4 step of gradient flow (four evaluations, the first kept for L and the observers).
template <class Activation>
void BM_RungeKutta4Step(benchmark::State& state) {
  Problem<Activation> p;
  const sf::RungeKutta4 rk4{1e-2};
  auto s = rk4.start(p.objective, p.theta);
  for (auto _ : state) {
    sf::step(rk4, s, p.objective, p.theta);
    benchmark::ClobberMemory();
  }
}

/// One accepted Dormand–Prince step (six evaluations with first-same-as-last), as run() takes it.
template <class Activation>
void BM_DormandPrinceStep(benchmark::State& state) {
  Problem<Activation> p;
  const sf::DormandPrince dopri{.rtol = 1e-8, .atol = 1e-8};
  auto s = dopri.start(p.objective, p.theta);
  sf::detail::evaluate(p.objective, p.theta, s.point);
  Index rejected = 0, evaluations = 0;
  for (auto _ : state) {
    const auto out = dopri.advance(p.objective, s, p.theta, std::numeric_limits<double>::infinity());
    rejected += out.rejected;
    evaluations += out.evaluations;
    benchmark::ClobberMemory();
  }
  state.counters["rejected"] = static_cast<double>(rejected);
  state.counters["evaluations_per_step"] = static_cast<double>(evaluations) / static_cast<double>(state.iterations());
}

}  // namespace

BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::Identity)->Name("flow/gd_step/identity");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Identity)->Name("flow/gd_step_by_hand/identity");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Identity, false)->Name("flow/gd_step_by_hand_x_skipped/identity");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::ReLU)->Name("flow/gd_step/relu");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::ReLU)->Name("flow/gd_step_by_hand/relu");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::ReLU, false)->Name("flow/gd_step_by_hand_x_skipped/relu");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::Tanh)->Name("flow/gd_step/tanh");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Tanh)->Name("flow/gd_step_by_hand/tanh");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Tanh, false)->Name("flow/gd_step_by_hand_x_skipped/tanh");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::Sigmoid)->Name("flow/gd_step/sigmoid");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Sigmoid)->Name("flow/gd_step_by_hand/sigmoid");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, sf::Sigmoid, false)->Name("flow/gd_step_by_hand_x_skipped/sigmoid");
BENCHMARK_TEMPLATE(BM_GradientDescentStepDynamic, sf::Tanh)->Name("flow/gd_step_dynamic/tanh");
BENCHMARK_TEMPLATE(BM_RungeKutta4Step, sf::Tanh)->Name("flow/rk4_step/tanh");
BENCHMARK_TEMPLATE(BM_DormandPrinceStep, sf::Tanh)->Name("flow/dormand_prince_step/tanh");
