// Conserved quantities beside the naive formulas they replace, at the paper's experiment size
// (m, h, n) = (5, 50, 10) and at (100, 100, 100), fixed and dynamic widths, float and double.
// U = W_2 ∈ R^{m×h}, V = W_1 ∈ R^{h×n}.
//  - trace of the layer imbalance: two streaming sums of squares, O(h(n + m)), against
//    Tr(VVᵀ) − Tr(UᵀU) through the matrix products, O(h²(n + m));
//  - the full h×h imbalance matrix (symmetric rank-k updates) against the two general products;
//  - per-unit scaling imbalance (row and column norms) against diag(VVᵀ − αUᵀU);
//  - eq. (48) per activation (closed-form potentials, and quadrature for a user activation)
//    against ½ diag(UᵀU) through the product;
//  - Q_M = ⟨θ, M̄θ⟩ through the group's generator against ⟨M, VVᵀ − UᵀU⟩ through the products.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include <symflow/symflow.hpp>

namespace sf = symflow;

namespace {

// A user activation that knows only σ and σ′ (softplus): eq. (48) integrates σ/σ′ numerically.
struct Softplus {
  template <class S> S value(const S& z) const {
    using std::exp;
    using std::log1p;
    return z > S(0) ? z + log1p(exp(-z)) : log1p(exp(z));
  }
  template <class S> S derivative(const S& z) const { return sf::Sigmoid{}.value(z); }
};

/// A two-layer network of the given widths and θ with N(0, 0.1²) entries. θ is a dynamic vector
/// (a fixed 100·100·2-entry vector would not fit Eigen's stack limit); the weight views are
/// fixed-size wherever the model's widths are.
template <class Net>
struct Setup {
  Net net;
  Eigen::Matrix<typename Net::Scalar, Eigen::Dynamic, 1> theta;

  Setup(int m, int h, int n) : net(make(m, h, n)) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal(0.0, 0.1);
    theta.resize(net.size());
    for (Eigen::Index i = 0; i < theta.size(); ++i) theta[i] = static_cast<typename Net::Scalar>(normal(rng));
  }
  static Net make(int m, int h, int n) {
    if constexpr (Net::is_fixed) return Net(typename Net::Activation{});
    else return Net({n, h, m});
  }
};

template <class Net>
void BM_TraceStreaming(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  const sf::LayerImbalanceTrace<Net> q(s.net);
  for (auto _ : state) benchmark::DoNotOptimize(q.value(s.theta));
}

template <class Net>
void BM_TraceNaive(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using S = typename Net::Scalar;
  for (auto _ : state) {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> vv = v * v.transpose();
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> uu = u.transpose() * u;
    benchmark::DoNotOptimize(vv.trace() - uu.trace());
  }
}

template <class Net>
void BM_MatrixImbalance(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  const sf::LayerImbalance<Net> q(s.net);
  for (auto _ : state) {
    auto value = q.value(s.theta);
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_MatrixNaive(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using S = typename Net::Scalar;
  for (auto _ : state) {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> value = v * v.transpose() - u.transpose() * u;
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_ScalingImbalance(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  const sf::ScalingImbalance<Net> q(s.net);
  for (auto _ : state) {
    auto value = q.value(s.theta);
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_ScalingNaive(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using S = typename Net::Scalar;
  for (auto _ : state) {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> full = v * v.transpose() - u.transpose() * u;
    Eigen::Matrix<S, Eigen::Dynamic, 1> value = full.diagonal();
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_Elementwise(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  const sf::ElementwiseQuantity<Net> q(s.net);
  for (auto _ : state) {
    auto value = q.value(s.theta);
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_ElementwiseNaive(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using S = typename Net::Scalar;
  const auto& act = s.net.activation();
  for (auto _ : state) {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> uu = u.transpose() * u;
    Eigen::Matrix<S, Eigen::Dynamic, 1> value = S(0.5) * uu.diagonal();
    for (Eigen::Index k = 0; k < v.rows(); ++k)
      for (Eigen::Index j = 0; j < v.cols(); ++j) value[k] -= sf::activation_potential(act, v(k, j));
    benchmark::DoNotOptimize(value.data());
    benchmark::ClobberMemory();
  }
}

template <class Net>
void BM_LieQuantity(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using Params = typename Net::Params;
  const sf::GeneralLinearAction<Net> action(s.net);
  std::mt19937_64 rng(7);
  const auto m = action.algebra().random(rng);
  const sf::LieQuantity q(action, m);
  const Params theta = s.theta;
  for (auto _ : state) benchmark::DoNotOptimize(q.value(theta));
}

template <class Net>
void BM_LieQuantityNaive(benchmark::State& state) {
  const Setup<Net> s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), static_cast<int>(state.range(2)));
  using S = typename Net::Scalar;
  const sf::GeneralLinearAction<Net> action(s.net);
  std::mt19937_64 rng(7);
  const auto m = action.algebra().random(rng);
  for (auto _ : state) {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> full = v * v.transpose() - u.transpose() * u;
    benchmark::DoNotOptimize(m.cwiseProduct(full).sum());
  }
}

constexpr int D = sf::Dynamic;

template <class S, class A>
using Small = sf::Mlp<S, A, 10, 50, 5>;  // (m, h, n) = (5, 50, 10)
template <class S, class A>
using Large = sf::Mlp<S, A, 100, 100, 100>;
template <class S, class A>
using Dyn = sf::Mlp<S, A, D, D, D>;

}  // namespace

// Trace of the layer imbalance.
#define SYMFLOW_BENCH_LINEAR(BM, label)                                                                                  \
  BENCHMARK_TEMPLATE(BM, Small<double, sf::Identity>)->Args({5, 50, 10})->Name(label "/double/fixed/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Dyn<double, sf::Identity>)->Args({5, 50, 10})->Name(label "/double/dynamic/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Small<float, sf::Identity>)->Args({5, 50, 10})->Name(label "/float/fixed/5x50x10");           \
  BENCHMARK_TEMPLATE(BM, Dyn<float, sf::Identity>)->Args({5, 50, 10})->Name(label "/float/dynamic/5x50x10");           \
  BENCHMARK_TEMPLATE(BM, Large<double, sf::Identity>)->Args({100, 100, 100})->Name(label "/double/fixed/100x100x100"); \
  BENCHMARK_TEMPLATE(BM, Dyn<double, sf::Identity>)->Args({100, 100, 100})->Name(label "/double/dynamic/100x100x100"); \
  BENCHMARK_TEMPLATE(BM, Large<float, sf::Identity>)->Args({100, 100, 100})->Name(label "/float/fixed/100x100x100");   \
  BENCHMARK_TEMPLATE(BM, Dyn<float, sf::Identity>)->Args({100, 100, 100})->Name(label "/float/dynamic/100x100x100")

SYMFLOW_BENCH_LINEAR(BM_TraceStreaming, "conserved/imbalance_trace/streaming");
SYMFLOW_BENCH_LINEAR(BM_TraceNaive, "conserved/imbalance_trace/naive_products");
SYMFLOW_BENCH_LINEAR(BM_MatrixImbalance, "conserved/imbalance_matrix/symflow");
SYMFLOW_BENCH_LINEAR(BM_MatrixNaive, "conserved/imbalance_matrix/naive_products");
// Q_M: the group's generator returns the model's Params, so a fixed 100·100·2-entry double θ would
// exceed Eigen's stack limit; that case runs with dynamic widths only.
#define SYMFLOW_BENCH_LIE(BM, label)                                                                                    \
  BENCHMARK_TEMPLATE(BM, Small<double, sf::Identity>)->Args({5, 50, 10})->Name(label "/double/fixed/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Dyn<double, sf::Identity>)->Args({5, 50, 10})->Name(label "/double/dynamic/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Small<float, sf::Identity>)->Args({5, 50, 10})->Name(label "/float/fixed/5x50x10");           \
  BENCHMARK_TEMPLATE(BM, Dyn<double, sf::Identity>)->Args({100, 100, 100})->Name(label "/double/dynamic/100x100x100"); \
  BENCHMARK_TEMPLATE(BM, Large<float, sf::Identity>)->Args({100, 100, 100})->Name(label "/float/fixed/100x100x100")

SYMFLOW_BENCH_LIE(BM_LieQuantity, "conserved/lie_quantity_gl/generator");
SYMFLOW_BENCH_LIE(BM_LieQuantityNaive, "conserved/lie_quantity_gl/naive_products");

#define SYMFLOW_BENCH_ACT(BM, A, label)                                                                     \
  BENCHMARK_TEMPLATE(BM, Small<double, A>)->Args({5, 50, 10})->Name(label "/double/fixed/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Dyn<double, A>)->Args({5, 50, 10})->Name(label "/double/dynamic/5x50x10");         \
  BENCHMARK_TEMPLATE(BM, Small<float, A>)->Args({5, 50, 10})->Name(label "/float/fixed/5x50x10");           \
  BENCHMARK_TEMPLATE(BM, Large<double, A>)->Args({100, 100, 100})->Name(label "/double/fixed/100x100x100"); \
  BENCHMARK_TEMPLATE(BM, Dyn<double, A>)->Args({100, 100, 100})->Name(label "/double/dynamic/100x100x100"); \
  BENCHMARK_TEMPLATE(BM, Large<float, A>)->Args({100, 100, 100})->Name(label "/float/fixed/100x100x100")

SYMFLOW_BENCH_ACT(BM_ScalingImbalance, sf::ReLU, "conserved/scaling_imbalance_relu/streaming");
SYMFLOW_BENCH_ACT(BM_ScalingNaive, sf::ReLU, "conserved/scaling_imbalance_relu/naive_products");
SYMFLOW_BENCH_ACT(BM_Elementwise, sf::Identity, "conserved/eq48_identity/symflow");
SYMFLOW_BENCH_ACT(BM_ElementwiseNaive, sf::Identity, "conserved/eq48_identity/naive_products");
SYMFLOW_BENCH_ACT(BM_Elementwise, sf::ReLU, "conserved/eq48_relu/symflow");
SYMFLOW_BENCH_ACT(BM_ElementwiseNaive, sf::ReLU, "conserved/eq48_relu/naive_products");
SYMFLOW_BENCH_ACT(BM_Elementwise, sf::LeakyReLU, "conserved/eq48_leaky_relu/symflow");
SYMFLOW_BENCH_ACT(BM_Elementwise, sf::Tanh, "conserved/eq48_tanh/symflow");
SYMFLOW_BENCH_ACT(BM_ElementwiseNaive, sf::Tanh, "conserved/eq48_tanh/naive_products");
SYMFLOW_BENCH_ACT(BM_Elementwise, sf::Sigmoid, "conserved/eq48_sigmoid/symflow");
SYMFLOW_BENCH_ACT(BM_Elementwise, Softplus, "conserved/eq48_softplus_quadrature/symflow");
