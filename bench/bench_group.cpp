// Finite action g·θ and generator M̄θ of each linear symmetry at the paper's size (input 10,
// hidden 50, output 5) and at hidden width 512; the pseudoinverse action at h = k = 32 and 256.
#include <benchmark/benchmark.h>

#include <random>

#include <symflow/symflow.hpp>

namespace sf = symflow;

namespace {

struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};

template <class Net>
Net make_net(sf::Index h) {
  if constexpr (Net::is_fixed) return Net();
  else return Net({10, h, 5});
}

template <class Action>
struct Setup {
  using Net = typename Action::ModelType;
  Net net;
  Action action;
  typename Net::Params theta;
  typename Action::Algebra m;
  typename Action::Group g;
  explicit Setup(sf::Index h, std::mt19937_64 rng = std::mt19937_64(42))
      : net(make_net<Net>(h)), action(net), theta(sf::random_params(net, rng, 0.1)),
        m(action.algebra().random(rng, 0.1)), g(action.exp(m)) {}
};

template <class Action>
void BM_Act(benchmark::State& state) {
  const Setup<Action> s(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(s.action.act(s.g, s.theta));
}

template <class Action>
void BM_Generator(benchmark::State& state) {
  const Setup<Action> s(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(s.action.generator(s.m, s.theta));
}

template <class Action>
void BM_Exp(benchmark::State& state) {
  const Setup<Action> s(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(s.action.exp(s.m));
}

template <class Act>
void BM_PseudoinverseAct(benchmark::State& state) {
  const sf::Index h = state.range(0);
  using Net = sf::Mlp<double, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({h, h, 10});
  std::mt19937_64 rng(42);
  const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(h, h, rng);  // k = h samples
  const sf::PseudoinverseAction action(net, x);
  const typename Net::Params theta = sf::random_params(net, rng, 1.0 / std::sqrt(static_cast<double>(h)));
  const Eigen::MatrixXd g = action.exp(action.algebra().random(rng, 0.1 / std::sqrt(static_cast<double>(h))));
  for (auto _ : state) benchmark::DoNotOptimize(action.act(g, theta));
}

using LinearFixed = sf::GeneralLinearAction<sf::TwoLayer<double, sf::Identity, 10, 50, 5>>;
using ScalingFixed = sf::ScalingAction<sf::TwoLayer<double, sf::ReLU, 10, 50, 5>>;
using OrthogonalFixed = sf::OrthogonalAction<sf::TwoLayer<double, sf::Radial<InverseQuadratic>, 10, 50, 5>>;
using LinearDynamic = sf::GeneralLinearAction<sf::TwoLayer<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>>;
using ScalingDynamic = sf::ScalingAction<sf::TwoLayer<double, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>>;
using OrthogonalDynamic =
    sf::OrthogonalAction<sf::TwoLayer<double, sf::Radial<InverseQuadratic>, sf::Dynamic, sf::Dynamic, sf::Dynamic>>;

}  // namespace

BENCHMARK_TEMPLATE(BM_Act, LinearFixed)->Name("group/act/general_linear/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Act, ScalingFixed)->Name("group/act/scaling/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Act, OrthogonalFixed)->Name("group/act/orthogonal/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Generator, LinearFixed)->Name("group/generator/general_linear/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Generator, ScalingFixed)->Name("group/generator/scaling/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Generator, OrthogonalFixed)->Name("group/generator/orthogonal/fixed")->Arg(50);
BENCHMARK_TEMPLATE(BM_Act, LinearDynamic)->Name("group/act/general_linear/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Act, ScalingDynamic)->Name("group/act/scaling/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Act, OrthogonalDynamic)->Name("group/act/orthogonal/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Generator, LinearDynamic)->Name("group/generator/general_linear/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Generator, ScalingDynamic)->Name("group/generator/scaling/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Generator, OrthogonalDynamic)->Name("group/generator/orthogonal/dynamic")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Exp, LinearDynamic)->Name("group/exp/general_linear")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_Exp, OrthogonalDynamic)->Name("group/exp/orthogonal")->Arg(50)->Arg(512);
BENCHMARK_TEMPLATE(BM_PseudoinverseAct, sf::Tanh)->Name("group/pinv_act/tanh")->Arg(32)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_PseudoinverseAct, sf::Sigmoid)->Name("group/pinv_act/sigmoid")->Arg(32)->Arg(256)->Unit(benchmark::kMicrosecond);
