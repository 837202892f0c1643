// One integrator step at the paper's experiment size: input 10, hidden 50, output 5, X = I (10
// samples), mean squared error. The yardstick is a hand-written fixed-size Eigen gradient-descent
// step for the same network; symflow's generic step (which also keeps the loss at every step)
// should match it.
#include <benchmark/benchmark.h>

#include <random>

#include <symflow/symflow.hpp>

namespace sf = symflow;
using sf::Index;

namespace {

constexpr int n = 10, h = 50, m = 5;
using X = Eigen::Matrix<double, n, n>;
using Y = Eigen::Matrix<double, m, n>;

template <class Activation>
struct Problem {
  using Net = sf::TwoLayer<double, Activation, n, h, m>;
  Net net;
  sf::Objective<Net, sf::MeanSquaredError, n> objective;
  typename Net::Params theta;

  Problem() : net(), objective(net, {}, X::Identity(), target()), theta(initial(net)) {}

  static Y target() {
    std::mt19937_64 rng(42);
    return sf::random_normal<Y>(m, n, rng);
  }
  static typename Net::Params initial(const Net& net) {
    std::mt19937_64 rng(7);
    return sf::random_params(net, rng, 0.3);
  }
};

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

// The yardstick: the same network and loss written out by hand with fixed-size Eigen matrices
// (tanh and the logistic function through Eigen's array functions).
struct Relu {};
struct TanhHand {};
struct SigmoidHand {};
struct IdentityHand {};

/// WithX = false is the stricter yardstick that uses X = I by hand: Z = V and ∇_V = dZ.
template <class Kind, bool WithX = true>
void BM_HandWrittenGradientDescentStep(benchmark::State& state) {
  std::mt19937_64 rng(7);
  Eigen::Matrix<double, h, n> v = sf::random_normal<Eigen::Matrix<double, h, n>>(h, n, rng, 0.3);
  Eigen::Matrix<double, m, h> u = sf::random_normal<Eigen::Matrix<double, m, h>>(m, h, rng, 0.3);
  const X x = X::Identity();
  const Y y = Problem<sf::Identity>::target();
  const double lr = 1e-3, scale = 2.0 / (m * n);
  double loss = 0;
  for (auto _ : state) {
    Eigen::Matrix<double, h, n> z;
    if constexpr (WithX) z.noalias() = v * x;
    else z = v;
    Eigen::Matrix<double, h, n> a;
    if constexpr (std::is_same_v<Kind, IdentityHand>) a = z;
    if constexpr (std::is_same_v<Kind, Relu>) a = z.cwiseMax(0.0);
    if constexpr (std::is_same_v<Kind, TanhHand>) a = z.array().tanh().matrix();
    if constexpr (std::is_same_v<Kind, SigmoidHand>) a = z.array().logistic().matrix();
    const Y r = u * a - y;
    loss = r.squaredNorm() / (m * n);
    const Y g = scale * r;
    const Eigen::Matrix<double, h, n> back = u.transpose() * g;
    Eigen::Matrix<double, h, n> dz;
    if constexpr (std::is_same_v<Kind, IdentityHand>) dz = back;
    if constexpr (std::is_same_v<Kind, Relu>) dz = (z.array() > 0.0).select(back, 0.0);
    if constexpr (std::is_same_v<Kind, TanhHand>) dz = back.array() * (1.0 - a.array().square());
    if constexpr (std::is_same_v<Kind, SigmoidHand>) dz = back.array() * a.array() * (1.0 - a.array());
    u.noalias() -= lr * g * a.transpose();
    if constexpr (WithX) v.noalias() -= lr * dz * x.transpose();
    else v -= lr * dz;
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
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, IdentityHand)->Name("flow/gd_step_by_hand/identity");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, IdentityHand, false)->Name("flow/gd_step_by_hand_x_skipped/identity");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::ReLU)->Name("flow/gd_step/relu");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, Relu)->Name("flow/gd_step_by_hand/relu");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, Relu, false)->Name("flow/gd_step_by_hand_x_skipped/relu");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::Tanh)->Name("flow/gd_step/tanh");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, TanhHand)->Name("flow/gd_step_by_hand/tanh");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, TanhHand, false)->Name("flow/gd_step_by_hand_x_skipped/tanh");
BENCHMARK_TEMPLATE(BM_GradientDescentStep, sf::Sigmoid)->Name("flow/gd_step/sigmoid");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, SigmoidHand)->Name("flow/gd_step_by_hand/sigmoid");
BENCHMARK_TEMPLATE(BM_HandWrittenGradientDescentStep, SigmoidHand, false)->Name("flow/gd_step_by_hand_x_skipped/sigmoid");
BENCHMARK_TEMPLATE(BM_GradientDescentStepDynamic, sf::Tanh)->Name("flow/gd_step_dynamic/tanh");
BENCHMARK_TEMPLATE(BM_RungeKutta4Step, sf::Tanh)->Name("flow/rk4_step/tanh");
BENCHMARK_TEMPLATE(BM_DormandPrinceStep, sf::Tanh)->Name("flow/dormand_prince_step/tanh");
