// Loss and gradient at the paper's experiment size: output 5, hidden 50, input 10, 10 samples.
#include <benchmark/benchmark.h>

#include <random>

#include <symflow/symflow.hpp>

namespace sf = symflow;

namespace {

template <class Activation, int n, int h, int m>
void BM_ValueAndGradient(benchmark::State& state) {
  using Net = sf::Mlp<double, Activation, n, h, m>;
  const Net net = [] {
    if constexpr (Net::is_fixed) return Net();
    else return Net({10, 50, 5});
  }();
  std::mt19937_64 rng(42);
  using X = Eigen::Matrix<double, n, n>;
  using Y = Eigen::Matrix<double, m, n>;
  const X x = X::Identity(10, 10);
  const Y y = sf::random_normal<Y>(5, 10, rng);
  const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
  const typename Net::Params theta = sf::random_params(net, rng, 0.1);
  typename Net::Params grad(net.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(objective.value_and_gradient(theta, grad));
    benchmark::ClobberMemory();
  }
}

}  // namespace

BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Identity, 10, 50, 5)->Name("value_and_gradient/identity/fixed");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::ReLU, 10, 50, 5)->Name("value_and_gradient/relu/fixed");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Tanh, 10, 50, 5)->Name("value_and_gradient/tanh/fixed");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Sigmoid, 10, 50, 5)->Name("value_and_gradient/sigmoid/fixed");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic)->Name("value_and_gradient/identity/dynamic");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic)->Name("value_and_gradient/relu/dynamic");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic)->Name("value_and_gradient/tanh/dynamic");
BENCHMARK_TEMPLATE(BM_ValueAndGradient, sf::Sigmoid, sf::Dynamic, sf::Dynamic, sf::Dynamic)->Name("value_and_gradient/sigmoid/dynamic");
