// Specification of the sign and scale conventions of the conserved quantities and their drift
// functions, of their accuracy in float, and of the domain of the potential of eq. (48):
//  - every drift function equals the change of the quantity it names over one step, to 1e-12
//    relative: Q(θ_{t+1}) − Q(θ_t);
//  - the paper's Q of Appendices D–E, ½Tr[UᵀU − VVᵀ] (eq. 45), is HalfTraceOutgoingMinusIncoming,
//    −½ LayerImbalanceTrace and eq. (48) summed for σ linear;
//  - in float, every quantity and drift whose two terms nearly cancel meets 1e-5 relative against
//    long double sums of the same float data;
//  - Φ_σ(v) = ∫_0^v σ/σ′ is refused past a zero of σ′, with the zero named.
#include "support.hpp"

#include <cmath>
#include <string>

#include <symflow/analysis.hpp>
#include <symflow/conserved.hpp>
#include <symflow/flow.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using Catch::Matchers::Contains;

namespace {

/// One gradient-descent step and the change of each quadratic quantity over it, against the drift
/// functions. Relative to the change, or to 10⁻³ of the bound η²‖∇L‖² when the change is smaller.
template <class Net>
void check_drift_functions(const Net& net, int trials) {
  using Params = typename Net::Params;
  constexpr bool linear = std::is_same_v<typename Net::Activation, sf::Identity>;
  const sf::HalfTraceOutgoingMinusIncoming<Net> half(net);
  const double eta = 0.05;
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    INFO(Net::Activation::name() << ", bias " << Net::has_bias << ", trial " << trial);
    const sf::Objective objective(net, sf::HalfSquaredError{}, sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng),
                                  sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng));
    const Params theta = sf::random_params(net, rng);
    const Params g = objective.gradient(theta);
    const Params next = theta - eta * g;
    const double floor = 1e-3 * sf::linear_trace_gd_bound(g, eta);

    const double half_change = half.value(next) - half.value(theta);
    CHECK(st::relative_error(sf::gd_step_change(half, g, eta), half_change, floor) <= 1e-12);
    // Eq. (41) is the change of the full trace Tr[UᵀU − VVᵀ], twice the paper's ½Tr of eq. (45).
    CHECK(st::relative_error(sf::outgoing_minus_incoming_trace_gd_change(net, g, eta), 2 * half_change, floor) <= 1e-12);
    CHECK(std::abs(2 * half_change) <= sf::linear_trace_gd_bound(g, eta));

    if constexpr (linear) {
      const sf::LayerImbalanceTrace<Net> trace(net);
      const sf::LayerImbalance<Net> matrix(net);
      // The opposite sign, full scale: incoming minus outgoing.
      CHECK(st::relative_error(half.value(theta), -0.5 * trace.value(theta)) <= 1e-14);
      const double trace_change = trace.value(next) - trace.value(theta);
      CHECK(st::relative_error(sf::gd_step_change(trace, g, eta), trace_change, 2 * floor) <= 1e-12);
      CHECK(st::relative_error(sf::outgoing_minus_incoming_trace_gd_change(net, g, eta), -trace_change, 2 * floor) <= 1e-12);
      const Eigen::MatrixXd matrix_change = matrix.value(next) - matrix.value(theta);
      CHECK(st::relative_error(sf::gd_step_change(matrix, g, eta), matrix_change, 2 * floor) <= 1e-12);
    } else {
      const sf::ScalingImbalance<Net> units(net);
      const Eigen::VectorXd unit_change = units.value(next) - units.value(theta);
      CHECK(st::relative_error(sf::gd_step_change(units, g, eta), unit_change, 2 * floor) <= 1e-12);
    }

    if constexpr (!Net::has_bias) {
      // Eq. (48) summed is outgoing minus incoming; for σ linear (and LeakyReLU, Φ = v²/2) it is
      // the paper's ½Tr, and NormalisedDrift's signed drift is its change over the scale.
      const sf::ElementwiseQuantity<Net> q48(net);
      sf::NormalisedDrift<sf::ElementwiseQuantity<Net>> drift(q48, theta);
      const double q0 = q48.outgoing(theta) - q48.incoming(theta), q1 = q48.outgoing(next) - q48.incoming(next);
      CHECK(st::relative_error(q48.value(theta).sum(), q0) <= 1e-13);
      CHECK(st::relative_error(drift.signed_drift(next) * drift.scale(), q1 - q0, floor) <= 1e-12);
      if constexpr (!std::is_same_v<typename Net::Activation, sf::ReLU>) {
        CHECK(st::relative_error(q0, half.value(theta)) <= 1e-13);
        CHECK(st::relative_error(drift.signed_drift(next) * drift.scale(), half_change, floor) <= 1e-12);
      }
    }

    // Heavy ball from rest, two steps: Q_{t+1} − Q_t = K_{t+1} + βK_t with K the discrete charge.
    const double beta = 0.7;
    const Params theta1 = next;
    const Params theta2 = theta1 - eta * objective.gradient(theta1) + beta * (theta1 - theta);
    const double k1 = sf::momentum_charge(half, theta1, theta), k2 = sf::momentum_charge(half, theta2, theta1);
    CHECK(st::relative_error(k1, half_change, floor) <= 1e-12);
    CHECK(st::relative_error(k2 + beta * k1, half.value(theta2) - half.value(theta1), floor) <= 1e-12);
  }
}

/// A float two-layer network (n → h → m) whose U is scaled column by column so that every unit's
/// outgoing term exceeds its incoming term by a relative 10⁻³: Q_k = 10⁻³ × ½‖u_k‖² / (1 + 10⁻³),
/// the cancellation that a float sum cannot resolve.
template <class Activation>
struct NearlyBalanced {
  using Net = sf::TwoLayer<float, Activation, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  Net net;
  typename Net::Params theta;
  Eigen::Matrix<long double, Eigen::Dynamic, 1> incoming;  // Σ_j Φ(V_kj) per unit, long double
  Eigen::Matrix<long double, Eigen::Dynamic, 1> outgoing;  // ½‖u_k‖² per unit, long double

  static long double phi(long double v) {
    if constexpr (std::is_same_v<Activation, sf::Tanh>) return std::sinh(v) * std::sinh(v) / 2;
    else return v * v / 2;
  }

  NearlyBalanced(sf::Index n, sf::Index h, sf::Index m, std::mt19937_64& rng)
      : net({n, h, m}), theta(sf::random_params(net, rng)) {
    const auto v = net.template weight<1>(theta);
    auto u = net.template weight<2>(theta);
    incoming.setZero(h);
    outgoing.setZero(h);
    for (sf::Index k = 0; k < h; ++k) {
      for (sf::Index j = 0; j < n; ++j) incoming[k] += phi(v(k, j));
      long double norm = 0;
      for (sf::Index i = 0; i < m; ++i) norm += static_cast<long double>(u(i, k)) * u(i, k);
      u.col(k) *= static_cast<float>(std::sqrt(2 * incoming[k] * (1 + 1e-3L) / norm));
      for (sf::Index i = 0; i < m; ++i) outgoing[k] += static_cast<long double>(u(i, k)) * u(i, k) / 2;
    }
  }
};

/// Σ x² of float data, in long double.
template <class M>
long double exact_sum_of_squares(const M& x) {
  long double s = 0;
  for (sf::Index j = 0; j < x.cols(); ++j)
    for (sf::Index i = 0; i < x.rows(); ++i) s += static_cast<long double>(x(i, j)) * x(i, j);
  return s;
}

/// GELU, σ(x) = x Φ(x); σ′(x) = Φ(x) + x φ(x) vanishes once, at x₀ ≈ −0.7517915.
struct Gelu {
  template <class S> S value(const S& z) const {
    using std::erf;
    return S(0.5) * z * (S(1) + erf(z * S(0.7071067811865475244)));
  }
  template <class S> S derivative(const S& z) const {
    using std::erf;
    using std::exp;
    return S(0.5) * (S(1) + erf(z * S(0.7071067811865475244))) + z * exp(S(-0.5) * z * z) * S(0.3989422804014327);
  }
  static std::string name() { return "gelu"; }
};

/// σ′(x) = 1 − 2 exp(−((x − 2)/0.01)²) < 0 only on (1.9917, 2.0083), between two grid points of
/// any interval [0, v] with v ≥ 3: only the quadrature's own nodes can see it.
struct Notch {
  static constexpr double width = 0.01;
  template <class S> S value(const S& z) const {
    using std::erf;
    return S(1) + z - S(2 * width * 0.886226925452758) * erf((z - S(2)) / S(width));
  }
  template <class S> S derivative(const S& z) const {
    using std::exp;
    const S t = (z - S(2)) / S(width);
    return S(1) - S(2) * exp(-t * t);
  }
  static std::string name() { return "notch"; }
};

template <class F>
std::string domain_message(F&& f) {
  try {
    f();
  } catch (const std::domain_error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

TEST_CASE("every drift function equals the change of the quantity it names over one step", "[conventions][drift]") {
  check_drift_functions(sf::TwoLayer<double, sf::Identity, 3, 5, 2>(), 20);
  check_drift_functions(sf::BiasedMlp<double, sf::Identity, 3, 5, 2>(), 20);
  check_drift_functions(sf::TwoLayer<double, sf::ReLU, 3, 5, 2>(), 20);
  check_drift_functions(sf::TwoLayer<double, sf::LeakyReLU, 3, 5, 2>(sf::LeakyReLU{0.1}), 20);
}

TEST_CASE("float quantities and drifts keep 1e-5 relative when their two terms nearly cancel", "[conventions][float]") {
  // 300 inputs, 200 units, 100 outputs: already here a float sum loses the difference.
  for (int trial = 0; trial < 3; ++trial) {
    auto rng = rng_for(trial);
    INFO("trial " << trial);
    {
      NearlyBalanced<sf::Tanh> b(300, 200, 100, rng);
      const sf::ElementwiseQuantity<decltype(b.net)> q(b.net);
      const Eigen::VectorXd exact = (b.outgoing - b.incoming).cast<double>();
      CHECK(st::relative_error(q.value(b.theta).cast<double>(), exact) <= 1e-5);
      const long double f1 = b.outgoing.sum(), f2 = b.incoming.sum();
      CHECK(st::relative_error(static_cast<double>(q.outgoing(b.theta) - q.incoming(b.theta)), static_cast<double>(f1 - f2)) <= 1e-5);
      const sf::NormalisedDrift<sf::ElementwiseQuantity<decltype(b.net)>> drift(q, b.theta);
      CHECK(st::relative_error(drift.normalised(b.theta), static_cast<double>((f1 - f2) / (f1 + f2))) <= 1e-5);
    }
    {
      NearlyBalanced<sf::Identity> b(300, 200, 100, rng);
      using Net = decltype(b.net);
      const long double f1 = b.outgoing.sum(), f2 = b.incoming.sum();
      const sf::ElementwiseQuantity<Net> q(b.net);
      CHECK(st::relative_error(q.value(b.theta).cast<double>(), (b.outgoing - b.incoming).cast<double>()) <= 1e-5);
      CHECK(st::relative_error(static_cast<double>(q.outgoing(b.theta) - q.incoming(b.theta)), static_cast<double>(f1 - f2)) <= 1e-5);
      CHECK(st::relative_error(sf::HalfTraceOutgoingMinusIncoming<Net>(b.net).value(b.theta), static_cast<double>(f1 - f2)) <= 1e-5);
      CHECK(st::relative_error(sf::LayerImbalanceTrace<Net>(b.net).value(b.theta), static_cast<double>(-2 * (f1 - f2))) <= 1e-5);
      // The drift functions of a "gradient" whose two blocks nearly cancel the same way.
      const float eta = 0.5f;
      const long double gu = exact_sum_of_squares(b.net.template weight<2>(b.theta));
      const long double gv = exact_sum_of_squares(b.net.template weight<1>(b.theta));
      const long double eta2 = static_cast<long double>(eta) * eta;
      CHECK(st::relative_error(sf::outgoing_minus_incoming_trace_gd_change(b.net, b.theta, eta), static_cast<double>(eta2 * (gu - gv))) <= 1e-5);
      CHECK(st::relative_error(sf::gd_step_change(sf::HalfTraceOutgoingMinusIncoming<Net>(b.net), b.theta, eta),
                               static_cast<double>(eta2 * (gu - gv) / 2)) <= 1e-5);
      // The per-unit scaling imbalance of the deep form, ‖v_k‖² − ‖u_k‖² = −2 Q_k.
      using Relu = sf::Mlp<float, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
      const Relu relu({300, 200, 100});
      CHECK(st::relative_error(sf::ScalingImbalances<Relu>(relu).value(b.theta).cast<double>(),
                               (-2 * (b.outgoing - b.incoming)).cast<double>()) <= 1e-5);
    }
  }
}

TEST_CASE("the potential of eq. (48) is refused past a zero of σ′, naming it", "[conventions][potential]") {
  // x₀ by bisection on σ′ in long double.
  long double lo = -1, hi = -0.5;
  for (int i = 0; i < 100; ++i) {
    const long double mid = (lo + hi) / 2;
    (Gelu{}.derivative(mid) < 0 ? lo : hi) = mid;
  }
  const double x0 = static_cast<double>(hi);
  REQUIRE(std::abs(x0 + 0.7517915) < 1e-6);
  const Gelu gelu;
  // Inside the domain: finite, and the derivative of Φ is σ/σ′.
  for (const double v : {-0.7517, -0.5, 0.3, 2.0, 6.0}) {
    INFO("v = " << v);
    const double phi = sf::activation_potential(gelu, v);
    CHECK(std::isfinite(phi));
    const double h = 1e-8 * std::max(1.0, std::abs(v));  // small: v = −0.7517 is 9·10⁻⁵ from the pole
    const double slope = (sf::activation_potential(gelu, v + h) - sf::activation_potential(gelu, v - h)) / (2 * h);
    CHECK(st::relative_error(slope, gelu.value(v) / gelu.derivative(v)) <= 1e-6);
  }
  // Past it: refused, the zero named to the printed digits (the report's case was v = −0.752).
  for (const double v : {-0.752, -0.7518, -1.0, -5.0}) {
    INFO("v = " << v);
    CHECK_THAT(domain_message([&] { (void)sf::activation_potential(gelu, v); }),
               Contains("changes sign or vanishes at x ≈ " + std::to_string(x0).substr(0, 8)));
  }
  // A dip of σ′ below 0 between grid points is found by the quadrature's nodes.
  CHECK(std::isfinite(sf::activation_potential(Notch{}, 1.9)));
  CHECK_THAT(domain_message([] { (void)sf::activation_potential(Notch{}, 5.0); }), Contains("x ≈ 1.99"));
  CHECK_THAT(domain_message([] { (void)sf::activation_potential(Notch{}, 2.005); }), Contains("x ≈ 1.99"));

  // A weight past the zero makes the quantity refuse, instead of returning a finite number.
  using Net = sf::TwoLayer<double, Gelu, 3, 4, 2>;
  const Net net;
  Net::Params theta = Net::Params::Constant(0.1);
  const sf::ElementwiseQuantity<Net> q(net);
  CHECK(q.value(theta).allFinite());
  net.weight<1>(theta)(2, 1) = -0.9;
  CHECK_THAT(domain_message([&] { (void)q.value(theta); }), Contains("v = -0.9"));
}
