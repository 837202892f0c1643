// Conserved quantities beside the naive formulas they replace, at (m, h, n) = (5, 50, 10) (the
// paper's experiment), (100, 100, 100), (1000, 1000, 1000) and (4000, 4000, 4000); fixed and
// dynamic widths where a fixed size fits (the two small sizes: at 1000 a fixed h×h value would not
// fit Eigen's stack limit), float and double. U = W_2 ∈ R^{m×h}, V = W_1 ∈ R^{h×n}, drawn once per
// size and scalar from Xavier normal distributions (V ~ N(0, 1/n), U ~ N(0, 1/h)), so that
// E Tr Q = h − m: at m = h the quantity is a difference of two nearly equal sums, which is where
// rounding shows.
//  - trace of the layer imbalance: two streaming sums of squares, O(h(n + m)), against
//    Tr(VVᵀ) − Tr(UᵀU) through the matrix products, O(h²(n + m)), as the reference code does;
//  - the full h×h imbalance matrix (symmetric rank-k updates) against the two general products;
//  - per-unit scaling imbalance (row and column norms) against diag(VVᵀ − UᵀU);
//  - eq. (48) per activation (closed-form potentials, and quadrature for a user activation)
//    against ½ diag(UᵀU) through the product minus the potentials entry by entry;
//  - Q_M = ⟨M, VVᵀ − UᵀU⟩ of the general linear action against the same through the products.
//
// Every benchmark reports rel_error: its result against the same quantity evaluated in long double
// from the same float or double weights (relative 2-norm error for vector results; for the h×h
// matrix over its diagonal and 4096 fixed random off-diagonal entries, or all entries when h ≤ 64;
// for Q_M, M is a dense h×h matrix of rank two, M = a₁b₁ᵀ + a₂b₂ᵀ, so that the long-double
// reference Σ_r (Vᵀa_r)·(Vᵀb_r) − (Ua_r)·(Ub_r) is cheap while symflow and the naive formula treat
// M as the dense matrix it is). Every benchmark also reports the bytes of θ read per evaluation as
// bytes_per_second, which scripts/bench_summary.py sets against the streaming bandwidth measured in
// the same run (bench_bandwidth.cpp) at the large sizes.
//
// .../symflow_threads_2/...: the trace, the scaling imbalance and eq. (48) for tanh and sigmoid at the
// large sizes on two threads.
// The (4000, 4000, 4000) cases are named .../4000x4000x4000; the CI smoke test leaves them out.
#include <benchmark/benchmark.h>

#include <array>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <symflow/symflow.hpp>

namespace sf = symflow;
using sf::Index;

namespace {

using Real = long double;

// A user activation that knows only σ and σ′ (softplus): eq. (48) integrates σ/σ′ numerically.
struct Softplus {
  template <class S> S value(const S& z) const {
    using std::exp;
    using std::log1p;
    return z > S(0) ? z + log1p(exp(-z)) : log1p(exp(z));
  }
  template <class S> S derivative(const S& z) const { return sf::Sigmoid{}.value(z); }
};

template <class S>
using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

/// The Xavier-normal weights of size (m, h, n) in scalar S, drawn once and kept for every benchmark
/// of that size and scalar, laid out as the model's θ = [vec W_1, vec W_2] (no biases).
template <class S>
const Vector<S>& weights(Index m, Index h, Index n) {
  static std::map<std::array<Index, 3>, Vector<S>> cache;
  auto [it, fresh] = cache.try_emplace({m, h, n});
  if (fresh) {
    std::mt19937_64 rng(20240607 + static_cast<std::uint64_t>(m * 1000003 + h * 1009 + n));
    std::normal_distribution<double> normal;
    Vector<S>& theta = it->second;
    theta.resize(h * n + m * h);
    const double v_scale = 1 / std::sqrt(double(n)), u_scale = 1 / std::sqrt(double(h));
    for (Index i = 0; i < h * n; ++i) theta[i] = static_cast<S>(v_scale * normal(rng));
    for (Index i = h * n; i < theta.size(); ++i) theta[i] = static_cast<S>(u_scale * normal(rng));
  }
  return it->second;
}

/// Output, hidden and input widths.
struct Shape {
  Index m, h, n;
};

/// A two-layer network of the given widths with the cached weights. θ is a dynamic vector (a fixed
/// 100·100·2-entry double vector would not fit Eigen's stack limit); the weight views are
/// fixed-size wherever the model's widths are. v and u are the weights in long double.
template <class Net>
struct Setup {
  using S = typename Net::Scalar;
  Net net;
  const Vector<S>& theta;
  Matrix<Real> v, u;

  explicit Setup(Shape shape)
      : net(make(shape.m, shape.h, shape.n)),
        theta(weights<S>(shape.m, shape.h, shape.n)),
        v(net.template weight<1>(theta).template cast<Real>()),
        u(net.template weight<2>(theta).template cast<Real>()) {
    static_assert(!Net::has_bias);
  }
  static Net make(Index m, Index h, Index n) {
    if constexpr (Net::is_fixed) return Net(typename Net::Activation{});
    else return Net({n, h, m});
  }
  Index bytes() const { return theta.size() * static_cast<Index>(sizeof(S)); }
};

template <class A, class B>
double relative_error(const A& value, const B& reference) {
  return static_cast<double>((value.template cast<Real>() - reference).norm() / reference.norm());
}

double scalar_error(Real value, Real reference) { return static_cast<double>(std::abs((value - reference) / reference)); }

/// ‖row k of V‖² − ‖column k of U‖² for every k: the diagonal of VVᵀ − UᵀU.
Vector<Real> scaling_reference(const Matrix<Real>& v, const Matrix<Real>& u) {
  return v.rowwise().squaredNorm() - u.colwise().squaredNorm().transpose();
}

/// The entries of VVᵀ − UᵀU that the matrix benchmarks are checked on: the diagonal and 4096
/// fixed random off-diagonal entries, or all of them when h ≤ 64.
struct Entries {
  std::vector<std::array<Index, 2>> at;
  Vector<Real> reference;

  Entries(const Matrix<Real>& v, const Matrix<Real>& u) {
    const Index h = v.rows();
    if (h <= 64) {
      for (Index j = 0; j < h; ++j)
        for (Index i = 0; i < h; ++i) at.push_back({i, j});
    } else {
      for (Index i = 0; i < h; ++i) at.push_back({i, i});
      std::mt19937_64 rng(99);
      std::uniform_int_distribution<Index> unit(0, h - 1);
      for (int k = 0; k < 4096; ++k) at.push_back({unit(rng), unit(rng)});
    }
    reference.resize(static_cast<Index>(at.size()));
    for (std::size_t k = 0; k < at.size(); ++k) {
      const auto [i, j] = at[k];
      reference[static_cast<Index>(k)] = v.row(i).dot(v.row(j)) - u.col(i).dot(u.col(j));
    }
  }
  template <class Q>
  double error(const Q& q) const {
    Vector<Real> value(reference.size());
    for (std::size_t k = 0; k < at.size(); ++k) value[static_cast<Index>(k)] = static_cast<Real>(q(at[k][0], at[k][1]));
    return relative_error(value, reference);
  }
};

/// ½‖column k of U‖² − Σ_j Φ_σ(V_kj) for every k, in long double.
template <class Act>
Vector<Real> eq48_reference(const Act& act, const Matrix<Real>& v, const Matrix<Real>& u) {
  Vector<Real> q = Real(0.5) * u.colwise().squaredNorm().transpose();
  for (Index j = 0; j < v.cols(); ++j)
    for (Index k = 0; k < v.rows(); ++k) q[k] -= sf::activation_potential(act, v(k, j));
  return q;
}

/// M = a₁b₁ᵀ + a₂b₂ᵀ with integer entries of a, b in [−8, 8], so that M is held exactly in
/// float and double (a dense h×h matrix of rank two), and Q_M = ⟨M, VVᵀ − UᵀU⟩ in long double
/// through the factors: Σ_r (Vᵀa_r)·(Vᵀb_r) − (Ua_r)·(Ub_r).
template <class Net>
struct RankTwoGenerator {
  using S = typename Net::Scalar;
  typename sf::GeneralLinearAction<Net>::Algebra m;
  Real reference = 0;

  explicit RankTwoGenerator(const Setup<Net>& s) {
    const Index h = s.v.rows();
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> entry(-8, 8);
    m = Matrix<S>::Zero(h, h);
    for (int r = 0; r < 2; ++r) {
      Vector<Real> a(h), b(h);
      for (Index i = 0; i < h; ++i) a[i] = entry(rng);
      for (Index i = 0; i < h; ++i) b[i] = entry(rng);
      m += (a * b.transpose()).template cast<S>();
      reference += (s.v.transpose() * a).dot(s.v.transpose() * b) - (s.u * a).dot(s.u * b);
    }
  }
};

// ----------------------------------------------------------------------------------------------
// The benchmarks. Each kind has run<Net>(state) and says whether its cost is O(h²(n + m)).

struct TraceStreaming {
  static constexpr bool cubic = false, fixed_100_double = true;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    const Setup<Net> s(shape);
    const sf::LayerImbalanceTrace<Net> q(s.net);
    typename Net::Scalar value = 0;
    for (auto _ : state) {
      value = q.value(s.theta);
      benchmark::DoNotOptimize(value);
    }
    state.SetBytesProcessed(state.iterations() * s.bytes());
    state.counters["rel_error"] = scalar_error(value, s.v.squaredNorm() - s.u.squaredNorm());
  }
};


struct TraceNaive {
  static constexpr bool cubic = true, fixed_100_double = true;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    const Setup<Net> s(shape);
    using S = typename Net::Scalar;
    S value = 0;
    for (auto _ : state) {
      const auto v = s.net.template weight<1>(s.theta);
      const auto u = s.net.template weight<2>(s.theta);
      const Matrix<S> vv = v * v.transpose();
      const Matrix<S> uu = u.transpose() * u;
      value = vv.trace() - uu.trace();
      benchmark::DoNotOptimize(value);
    }
    state.SetBytesProcessed(state.iterations() * s.bytes());
    state.counters["rel_error"] = scalar_error(value, s.v.squaredNorm() - s.u.squaredNorm());
  }
};

template <class Net>
struct MatrixSymflow {
  static constexpr bool cubic = true;
  sf::LayerImbalance<Net> q;
  Entries entries;
  explicit MatrixSymflow(const Setup<Net>& s) : q(s.net), entries(s.v, s.u) {}
  auto evaluate(const Setup<Net>& s) const { return q.value(s.theta); }
  template <class Q> double error(const Setup<Net>&, const Q& value) const { return entries.error(value); }
};

template <class Net>
struct MatrixNaive {
  static constexpr bool cubic = true;
  Entries entries;
  explicit MatrixNaive(const Setup<Net>& s) : entries(s.v, s.u) {}
  Matrix<typename Net::Scalar> evaluate(const Setup<Net>& s) const {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    return v * v.transpose() - u.transpose() * u;
  }
  template <class Q> double error(const Setup<Net>&, const Q& value) const { return entries.error(value); }
};

template <class Net>
struct ScalingSymflow {
  static constexpr bool cubic = false;
  sf::ScalingImbalance<Net> q;
  explicit ScalingSymflow(const Setup<Net>& s) : q(s.net) {}
  auto evaluate(const Setup<Net>& s) const { return q.value(s.theta); }
  template <class Q> double error(const Setup<Net>& s, const Q& value) const {
    return relative_error(value, scaling_reference(s.v, s.u));
  }
};

template <class Net>
struct ScalingNaive {
  static constexpr bool cubic = true;
  explicit ScalingNaive(const Setup<Net>&) {}
  Vector<typename Net::Scalar> evaluate(const Setup<Net>& s) const {
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Matrix<typename Net::Scalar> full = v * v.transpose() - u.transpose() * u;
    return full.diagonal();
  }
  template <class Q> double error(const Setup<Net>& s, const Q& value) const {
    return relative_error(value, scaling_reference(s.v, s.u));
  }
};

template <class Net>
struct Eq48Symflow {
  static constexpr bool cubic = false;
  sf::ElementwiseQuantity<Net> q;
  explicit Eq48Symflow(const Setup<Net>& s) : q(s.net) {}
  auto evaluate(const Setup<Net>& s) const { return q.value(s.theta); }
  template <class Q> double error(const Setup<Net>& s, const Q& value) const {
    return relative_error(value, eq48_reference(s.net.activation(), s.v, s.u));
  }
};

template <class Net>
struct Eq48Naive {
  static constexpr bool cubic = true;
  explicit Eq48Naive(const Setup<Net>&) {}
  Vector<typename Net::Scalar> evaluate(const Setup<Net>& s) const {
    using S = typename Net::Scalar;
    const auto v = s.net.template weight<1>(s.theta);
    const auto u = s.net.template weight<2>(s.theta);
    const Matrix<S> uu = u.transpose() * u;
    Vector<S> value = S(0.5) * uu.diagonal();
    for (Index k = 0; k < v.rows(); ++k)
      for (Index j = 0; j < v.cols(); ++j) value[k] -= sf::activation_potential(s.net.activation(), v(k, j));
    return value;
  }
  template <class Q> double error(const Setup<Net>& s, const Q& value) const {
    return relative_error(value, eq48_reference(s.net.activation(), s.v, s.u));
  }
};

/// Q_M of the general linear action (symflow: ⟨M, Q⟩ with Q from symmetric rank-k updates). Not
/// at the fixed (100, 100, 100) double size: there g++ 12 warns falsely inside its AVX-512 headers.
struct LieSymflow {
  static constexpr bool cubic = true, fixed_100_double = false;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    const Setup<Net> s(shape);
    const RankTwoGenerator<Net> g(s);
    const sf::LieQuantity q(sf::GeneralLinearAction<Net>(s.net), g.m);
    typename Net::Scalar value = 0;
    for (auto _ : state) {
      value = q.value(s.theta);
      benchmark::DoNotOptimize(value);
    }
    state.SetBytesProcessed(state.iterations() * s.bytes());
    state.counters["rel_error"] = scalar_error(value, g.reference);
  }
};

struct LieNaive {
  static constexpr bool cubic = true, fixed_100_double = false;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    const Setup<Net> s(shape);
    const RankTwoGenerator<Net> g(s);
    using S = typename Net::Scalar;
    S value = 0;
    for (auto _ : state) {
      const auto v = s.net.template weight<1>(s.theta);
      const auto u = s.net.template weight<2>(s.theta);
      const Matrix<S> full = v * v.transpose() - u.transpose() * u;
      value = g.m.cwiseProduct(full).sum();
      benchmark::DoNotOptimize(value);
    }
    state.SetBytesProcessed(state.iterations() * s.bytes());
    state.counters["rel_error"] = scalar_error(value, g.reference);
  }
};

// ----------------------------------------------------------------------------------------------
// Registration: every kind at every size, fixed where it fits, float and double.

constexpr int D = sf::Dynamic;

/// Which sizes a family runs at: all four, or only up to (100, 100, 100) (quadrature). A kind
/// runs the fixed (100, 100, 100) double model unless it says fixed_100_double = false.
struct Sizes {
  bool large = true;
};

template <class Kind, class Net>
benchmark::internal::Benchmark* add(const std::string& name, Index m, Index h, Index n) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), &Kind::template run<Net>, Shape{m, h, n});
  if (h >= 1000) b->Unit(benchmark::kMillisecond);
  // O(h²(n + m)) at h = 4000: seconds per evaluation, so one iteration and one repetition.
  if (Kind::cubic && h >= 4000) b->Iterations(1)->Repetitions(1);
  return b;
}

template <class Kind, class S, class A>
void add_scalar(const std::string& label, const char* scalar, Sizes sizes) {
  const std::string prefix = label + "/" + scalar + "/";
  add<Kind, sf::Mlp<S, A, 10, 50, 5>>(prefix + "fixed/5x50x10", 5, 50, 10);
  add<Kind, sf::Mlp<S, A, D, D, D>>(prefix + "dynamic/5x50x10", 5, 50, 10);
  if constexpr (std::is_same_v<S, float> || Kind::fixed_100_double)
    add<Kind, sf::Mlp<S, A, 100, 100, 100>>(prefix + "fixed/100x100x100", 100, 100, 100);
  add<Kind, sf::Mlp<S, A, D, D, D>>(prefix + "dynamic/100x100x100", 100, 100, 100);
  if (!sizes.large) return;
  add<Kind, sf::Mlp<S, A, D, D, D>>(prefix + "dynamic/1000x1000x1000", 1000, 1000, 1000);
  add<Kind, sf::Mlp<S, A, D, D, D>>(prefix + "dynamic/4000x4000x4000", 4000, 4000, 4000);
}

template <class Kind, class A = sf::Identity>
void add_family(const std::string& label, Sizes sizes = {}) {
  add_scalar<Kind, double, A>(label, "double", sizes);
  add_scalar<Kind, float, A>(label, "float", sizes);
}

/// Kind on Threads threads, for the large sizes, where the sums of squares split over them
/// (symflow/core/reduction.hpp). The binary is built with OpenMP for this; every other benchmark
/// runs on one thread (set at registration below).
template <class Kind, int Threads>
struct OnThreads {
  static constexpr bool cubic = Kind::cubic, fixed_100_double = Kind::fixed_100_double;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    Eigen::setNbThreads(Threads);
    Kind::template run<Net>(state, shape);
    Eigen::setNbThreads(1);
  }
};

/// A benchmark of a quantity with a vector or matrix value: Kind<Net> computes it (evaluate) and
/// checks it against the long-double reference (error).
template <template <class> class Kind>
struct Valued {
  static constexpr bool cubic = Kind<sf::Mlp<double, sf::Identity, D, D, D>>::cubic, fixed_100_double = true;
  template <class Net>
  static void run(benchmark::State& state, Shape shape) {
    const Setup<Net> s(shape);
    const Kind<Net> kind(s);
    auto value = kind.evaluate(s);
    for (auto _ : state) {
      value = kind.evaluate(s);
      benchmark::DoNotOptimize(value.data());
      benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * s.bytes());
    state.counters["rel_error"] = kind.error(s, value);
  }
};

/// conserved/<quantity>/symflow_threads_2/{double,float}/dynamic/hxhxh: Kind on two threads,
/// wall-clock (the main thread's CPU time would leave out the other thread's share).
template <class Kind, class A>
void add_two_threads(const std::string& quantity, Index h) {
  const std::string shape = "/dynamic/" + std::to_string(h) + "x" + std::to_string(h) + "x" + std::to_string(h);
  const std::string prefix = "conserved/" + quantity + "/symflow_threads_2/";
  add<OnThreads<Kind, 2>, sf::Mlp<double, A, D, D, D>>(prefix + "double" + shape, h, h, h)->UseRealTime();
  add<OnThreads<Kind, 2>, sf::Mlp<float, A, D, D, D>>(prefix + "float" + shape, h, h, h)->UseRealTime();
}

template <template <class> class Symflow, template <class> class Naive, class A>
void add_pair(const std::string& quantity, Sizes sizes = {}) {
  add_family<Valued<Symflow>, A>("conserved/" + quantity + "/symflow", sizes);
  add_family<Valued<Naive>, A>("conserved/" + quantity + "/naive_products", sizes);
}

const bool registered = [] {
  // One thread for every benchmark of the binary (Eigen's products and symflow's large sums), but
  // those named threads_N.
  Eigen::setNbThreads(1);
  add_family<TraceStreaming>("conserved/imbalance_trace/symflow");
  // The streaming quantities, and eq. (48) for tanh and sigmoid (bound by its exponentials), on two
  // threads.
  for (const Index h : {1000, 4000}) {
    add_two_threads<TraceStreaming, sf::Identity>("imbalance_trace", h);
    add_two_threads<Valued<ScalingSymflow>, sf::ReLU>("scaling_imbalance_relu", h);
    add_two_threads<Valued<Eq48Symflow>, sf::Tanh>("eq48_tanh", h);
    add_two_threads<Valued<Eq48Symflow>, sf::Sigmoid>("eq48_sigmoid", h);
  }
  add_family<TraceNaive>("conserved/imbalance_trace/naive_products");
  add_pair<MatrixSymflow, MatrixNaive, sf::Identity>("imbalance_matrix");
  add_pair<ScalingSymflow, ScalingNaive, sf::ReLU>("scaling_imbalance_relu");
  add_pair<Eq48Symflow, Eq48Naive, sf::Identity>("eq48_identity");
  add_pair<Eq48Symflow, Eq48Naive, sf::ReLU>("eq48_relu");
  add_pair<Eq48Symflow, Eq48Naive, sf::LeakyReLU>("eq48_leaky_relu");
  add_pair<Eq48Symflow, Eq48Naive, sf::Tanh>("eq48_tanh");
  add_pair<Eq48Symflow, Eq48Naive, sf::Sigmoid>("eq48_sigmoid");
  // Quadrature of σ/σ′ for every weight: up to (100, 100, 100).
  add_pair<Eq48Symflow, Eq48Naive, Softplus>("eq48_softplus_quadrature", {.large = false});
  add_family<LieSymflow>("conserved/lie_quantity_gl/symflow");
  add_family<LieNaive>("conserved/lie_quantity_gl/naive_products");
  return true;
}();

}  // namespace
