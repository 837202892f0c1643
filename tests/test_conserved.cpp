// Specification of the conserved quantities, point by point: at every θ, the rate of change of Q
// along the gradient-flow velocity −∇L(θ) is zero, because the change of the incoming layer
// exactly cancels the change of the outgoing layer. Rates are exact (dual numbers), so the
// tolerances are rounding tolerances.
#include "support.hpp"

#include <symflow/conserved.hpp>
#include <symflow/group.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::Softplus;

namespace {

/// The velocity v restricted to the parameters of layers `first`..`last` (weights and biases).
template <class Model, class P>
P restrict_to_layers(const Model& model, const P& v, int first, int last) {
  P out = P::Zero(v.size());
  for (int i = first; i <= last; ++i) {
    model.weight_at(i, out) = model.weight_at(i, v);
    if constexpr (Model::has_bias) out.segment(model.bias_offset(i), model.width(i)) = v.segment(model.bias_offset(i), model.width(i));
  }
  return out;
}

/// dQ/dt along −∇L is zero entry by entry: the rate from layers 1..Layer (incoming) cancels the
/// rate from layers Layer+1..L (outgoing), to `tol` times their size, and both are far from zero.
template <class Q, class Objective>
void check_balanced_rates(const Q& q, const Objective& objective, const typename Q::Params& theta, int layer,
                          double tol) {
  const auto& model = objective.model();
  using Model = std::remove_cvref_t<decltype(model)>;
  const typename Q::Params velocity = -objective.gradient(theta);
  const typename Q::Params v_in = restrict_to_layers(model, velocity, 1, layer);
  const typename Q::Params v_out = restrict_to_layers(model, velocity, layer + 1, Model::depth);
  const auto rate = sf::directional_derivative(q, theta, velocity);
  const auto rate_in = sf::directional_derivative(q, theta, v_in);
  const auto rate_out = sf::directional_derivative(q, theta, v_out);
  const auto scale = (rate_in.array().abs() + rate_out.array().abs()).eval();
  INFO("rate " << rate.transpose() << "\nincoming " << rate_in.transpose() << "\noutgoing " << rate_out.transpose());
  // Entry by entry, to rounding relative to the largest rate in the same quantity.
  CHECK(rate.array().abs().maxCoeff() <= tol * scale.maxCoeff());
  CHECK(scale.maxCoeff() > 1e-3);
}

template <class Matrix>
Matrix identity_like(Eigen::Index n) { return Matrix::Identity(n, n); }

}  // namespace

TEST_CASE("Gauss-Kronrod nodes integrate polynomials exactly: Kronrod to degree 22, Gauss to degree 13",
          "[conserved][quadrature]") {
  using R = sf::detail::GaussKronrod15<long double>;
  long double kronrod_sum = R::kronrod_weights[7];
  long double gauss_sum = R::gauss_weights[3];
  for (int i = 0; i < 7; ++i) {
    kronrod_sum += 2 * R::kronrod_weights[i];
    if (i % 2 == 1) gauss_sum += 2 * R::gauss_weights[i / 2];
  }
  CHECK(std::abs(static_cast<double>(kronrod_sum - 2)) < 1e-18);
  CHECK(std::abs(static_cast<double>(gauss_sum - 2)) < 1e-18);
  // ∫_0^1 x^p dx = 1/(p+1) from one application of the pair on [0, 1].
  for (int p = 0; p <= 22; ++p) {
    long double error = 0, magnitude = 0;
    const long double k = sf::detail::gauss_kronrod_15<long double>(
        [p](long double x) { return std::pow(x, p); }, 0.0L, 1.0L, error, magnitude);
    INFO("degree " << p);
    CHECK(std::abs(static_cast<double>(k * (p + 1) - 1)) < 1e-17);
    // |K − G| = |G − exact| vanishes up to degree 13 (7-point Gauss is exact to degree 2·7 − 1).
    if (p <= 13) CHECK(static_cast<double>(error) < 1e-17);
    if (p == 14) CHECK(static_cast<double>(error) > 1e-9);
  }
}

TEMPLATE_TEST_CASE("adaptive quadrature reaches the requested accuracy in every precision", "[conserved][quadrature]",
                   float, double, long double) {
  using S = TestType;
  const double eps = static_cast<double>(std::numeric_limits<S>::epsilon());
  using std::exp;
  using std::sin;
  const S pi = static_cast<S>(3.14159265358979323846264338327950288L);
  CHECK(std::abs(static_cast<double>(sf::integrate([](S x) { return sin(x); }, S(0), pi)) - 2.0) < 200 * eps);
  // ∫_{−3}^{5} e^x = e^5 − e^{−3}; reversed limits change the sign.
  const double expected = std::exp(5.0) - std::exp(-3.0);
  CHECK(st::relative_error(static_cast<double>(sf::integrate([](S x) { return exp(x); }, S(-3), S(5))), expected) < 200 * eps);
  CHECK(st::relative_error(static_cast<double>(sf::integrate([](S x) { return exp(x); }, S(5), S(-3))), -expected) < 200 * eps);
  // A sharp peak needs many bisections: ∫ 1/(1e-4 + x²) over [−1, 1] = 2·atan(100)/0.01.
  const double peak = 2 * std::atan(100.0) / 0.01;
  CHECK(st::relative_error(static_cast<double>(sf::integrate([](S x) { return S(1) / (S(1e-4) + x * x); }, S(-1), S(1))), peak) <
        2000 * eps);
}

TEST_CASE("quadrature reports a non-finite integrand", "[conserved][quadrature]") {
  CHECK_THROWS_AS(sf::integrate([](double x) { return std::sqrt(x - 0.5); }, 0.0, 1.0), std::domain_error);
}

namespace {

// tanh again, but as a user type with no closed-form potential, so symflow integrates σ/σ′. The
// derivative is 1/cosh²z written without cancellation (1 − tanh² loses digits for large |z|).
struct UserTanh {
  template <class S> S value(const S& z) const { using std::tanh; return tanh(z); }
  template <class S> S derivative(const S& z) const {
    using std::exp;
    const S c = exp(z) + exp(-z);
    return S(4) / (c * c);
  }
};

template <class A>
void check_potential(const A& act, double tol) {
  auto rng = rng_for(3);
  std::normal_distribution<double> normal(0.0, 1.5);
  for (int i = 0; i < 40; ++i) {
    const double v = normal(rng);
    const double phi = sf::activation_potential(act, v);
    // Φ′ = σ/σ′, with 0/0 = 0 (ReLU's negative side), checked by central differences.
    const double h = 1e-5;
    const double slope = (sf::activation_potential(act, v + h) - sf::activation_potential(act, v - h)) / (2 * h);
    const double ratio = act.derivative(v) == 0.0 ? 0.0 : act.value(v) / act.derivative(v);
    INFO("v = " << v);
    CHECK(std::abs(slope - ratio) <= 1e-8 * (1 + std::abs(ratio)));
    CHECK(std::abs(sf::potential_ratio(act, v) - ratio) <= 1e-13 * (1 + std::abs(ratio)));
    // The closed form equals the quadrature of σ/σ′ from 0.
    const double quad = sf::integrate([&](double x) { return sf::potential_ratio(act, x); }, 0.0, v);
    CHECK(std::abs(phi - quad) <= tol * std::max(1.0, std::abs(phi)));
    // The dual lift: ε-part of Φ(v + ε) is σ/σ′(v).
    const sf::Dual<double> d = sf::activation_potential(act, sf::Dual<double>(v, 1.0));
    CHECK(d.value == phi);
    CHECK(std::abs(d.eps - ratio) <= 1e-13 * (1 + std::abs(ratio)));
  }
  CHECK(sf::activation_potential(act, 0.0) == 0.0);
}

}  // namespace

TEST_CASE("the potential of eq. (48) has Φ′ = σ/σ′ and Φ(0) = 0 for every activation", "[conserved][potential]") {
  SECTION("identity") { check_potential(sf::Identity{}, 1e-14); }
  SECTION("relu") { check_potential(sf::ReLU{}, 1e-14); }
  SECTION("leaky relu") { check_potential(sf::LeakyReLU{0.2}, 1e-14); }
  SECTION("homogeneous, alpha = 3") { check_potential(sf::Homogeneous{3.0}, 1e-14); }
  SECTION("tanh") { check_potential(sf::Tanh{}, 1e-13); }
  SECTION("sigmoid") { check_potential(sf::Sigmoid{}, 1e-13); }
  SECTION("softplus (quadrature)") { check_potential(Softplus{}, 1e-13); }
}

TEST_CASE("the quadrature potential of a user activation equals the closed form", "[conserved][potential]") {
  STATIC_REQUIRE(!sf::has_closed_form_potential<UserTanh>);
  STATIC_REQUIRE(sf::has_closed_form_potential<sf::Tanh>);
  for (double v : {-4.0, -1.3, -1e-3, 1e-8, 0.2, 0.9, 2.5, 6.0}) {
    const double closed = sf::activation_potential(sf::Tanh{}, v);
    INFO("v = " << v);
    CHECK(st::relative_error(sf::activation_potential(UserTanh{}, v), closed) <= 1e-13);
    CHECK(st::relative_error(static_cast<double>(sf::activation_potential(UserTanh{}, static_cast<long double>(v))), closed) <= 1e-15);
  }
}

namespace {
// The Heaviside step: σ′ = 0 everywhere, σ = 1 for z > 0.
struct Step {
  template <class S> S value(const S& z) const { return z > S(0) ? S(1) : S(0); }
  template <class S> S derivative(const S&) const { return S(0); }
};
// A smooth radial profile f(r) = 1/(1 + r²).
struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};
}  // namespace

TEST_CASE("an activation with σ′ = 0 where σ ≠ 0 has no potential, and says so", "[conserved][potential]") {
  CHECK_THROWS_WITH(sf::activation_potential(Step{}, 1.0), Catch::Contains("σ′(x) = 0 but σ(x) ≠ 0"));
}

TEST_CASE("layer imbalance: every entry is conserved by gradient flow, for any data and loss", "[conserved][linear]") {
  using Net = sf::Mlp<double, sf::Identity, 4, 5, 3, 2>;
  const Net net;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 7>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 7>>(rng);
    const Net::Params theta = sf::random_params(net, rng);
    INFO("trial " << trial);
    const sf::Objective half(net, sf::HalfSquaredError{}, x, y);
    const sf::Objective mse(net, sf::MeanSquaredError{}, x, y);
    check_balanced_rates(sf::LayerImbalance<Net, 1>(net), half, theta, 1, 1e-13);
    check_balanced_rates(sf::LayerImbalance<Net, 2>(net), half, theta, 2, 1e-13);
    check_balanced_rates(sf::LayerImbalance<Net, 1>(net), mse, theta, 1, 1e-13);
    check_balanced_rates(sf::LayerImbalance<Net, 2>(net), mse, theta, 2, 1e-13);
    // The trace is the sum of squared norms, and the traces of all layers stack.
    const Eigen::Vector2d traces = sf::LayerImbalanceTraces<Net>(net).value(theta);
    CHECK(std::abs(sf::LayerImbalanceTrace<Net, 1>(net).value(theta) - sf::LayerImbalance<Net, 1>(net).value(theta).trace()) < 1e-13);
    CHECK(std::abs(traces[1] - sf::LayerImbalance<Net, 2>(net).value(theta).trace()) < 1e-13);
    CHECK(std::abs(traces[0] - (net.weight<1>(theta).squaredNorm() - net.weight<2>(theta).squaredNorm())) < 1e-13);
    // Run-time layer index gives the same matrix.
    CHECK((sf::layer_imbalance_at(net, 2, theta) - sf::LayerImbalance<Net, 2>(net).value(theta)).norm() < 1e-14);
  }
}

TEST_CASE("layer imbalance with biases includes b bᵀ and is conserved", "[conserved][linear]") {
  using Net = sf::BiasedMlp<double, sf::Identity, 3, 4, 4, 2>;
  const Net net;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
    const auto y = sf::test::one_hot<Eigen::Matrix<double, 2, 5>>(rng, 2, 5);
    const Net::Params theta = sf::random_params(net, rng);
    const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, x, y);
    check_balanced_rates(sf::LayerImbalance<Net, 1>(net), objective, theta, 1, 1e-13);
    check_balanced_rates(sf::LayerImbalance<Net, 2>(net), objective, theta, 2, 1e-13);
    const Net::Params velocity = -objective.gradient(theta);
    const Eigen::Vector2d rates = sf::directional_derivative(sf::LayerImbalanceTraces<Net>(net), theta, velocity);
    CHECK(rates.norm() <= 1e-13 * theta.norm() * velocity.norm());
  }
}

TEST_CASE("per-unit scaling imbalance is conserved for homogeneous activations of any degree", "[conserved][scaling]") {
  auto run = [](auto act, int trials) {
    using A = decltype(act);
    using Net = sf::BiasedMlp<double, A, 3, 5, 4, 2>;
    const Net net(act);
    for (int trial = 0; trial < trials; ++trial) {
      auto rng = rng_for(trial);
      const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
      const typename Net::Params theta = sf::random_params(net, rng);
      const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
      INFO(A::name() << " trial " << trial);
      check_balanced_rates(sf::ScalingImbalance<Net, 1>(net), objective, theta, 1, 1e-13);
      check_balanced_rates(sf::ScalingImbalance<Net, 2>(net), objective, theta, 2, 1e-13);
      // The stacked vector of every hidden layer is the two per-layer vectors.
      const auto all = sf::ScalingImbalances<Net>(net).value(theta);
      CHECK((all.head(5) - sf::ScalingImbalance<Net, 1>(net).value(theta)).norm() < 1e-14);
      CHECK((all.tail(4) - sf::ScalingImbalance<Net, 2>(net).value(theta)).norm() < 1e-14);
    }
  };
  run(sf::ReLU{}, 10);
  run(sf::LeakyReLU{0.1}, 10);
  run(sf::Homogeneous{2.0}, 10);
  run(sf::Homogeneous{3.5}, 10);
  run(sf::Identity{}, 5);
}

TEST_CASE("per-unit scaling imbalance with the wrong degree is not conserved", "[conserved][scaling]") {
  // Q_k with α = 1 for σ = max(z, 0)² (true α = 2): the rates no longer balance.
  using Net = sf::Mlp<double, sf::Homogeneous, 3, 5, 2>;
  using Wrong = sf::Mlp<double, sf::ReLU, 3, 5, 2>;
  const Net net(sf::Homogeneous{2.0});
  auto rng = rng_for(0);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
  const Net::Params theta = sf::random_params(net, rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const Net::Params velocity = -objective.gradient(theta);
  const auto wrong_rate = sf::directional_derivative(sf::ScalingImbalance<Wrong, 1>(Wrong{}), theta, velocity);
  const auto right_rate = sf::directional_derivative(sf::ScalingImbalance<Net, 1>(net), theta, velocity);
  CHECK(wrong_rate.norm() > 1e-2);
  CHECK(right_rate.norm() < 1e-12 * (1 + wrong_rate.norm()));
}

TEST_CASE("the imbalances agree with each other: trace, diagonal and eq. (48) for linear layers", "[conserved][linear]") {
  using Net = sf::Mlp<double, sf::Identity, 4, 6, 3>;
  const Net net;
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng);
  const Eigen::Matrix<double, 6, 6> q = sf::LayerImbalance<Net>(net).value(theta);
  // Symmetric; diagonal = per-unit scaling imbalance with α = 1; eq. (48) summed = −½ Tr.
  CHECK((q - q.transpose()).norm() == 0.0);
  CHECK((q.diagonal() - sf::ScalingImbalance<Net>(net).value(theta)).norm() < 1e-14);
  CHECK(std::abs(sf::summed(sf::ElementwiseQuantity<Net>(net)).value(theta) + 0.5 * q.trace()) < 1e-14);
  // Per unit: Q_k(48) = −½ Q_kk.
  CHECK((sf::ElementwiseQuantity<Net>(net).value(theta) + 0.5 * q.diagonal()).norm() < 1e-14);
}

TEST_CASE("eq. (48) is conserved with whitened input X = I, for every activation and loss", "[conserved][elementwise]") {
  auto run = [](auto act) {
    using A = decltype(act);
    using Net = sf::Mlp<double, A, 4, 6, 3>;
    const Net net(act);
    const sf::ElementwiseQuantity<Net> q(net);
    for (int trial = 0; trial < 8; ++trial) {
      auto rng = rng_for(trial);
      const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
      const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
      const typename Net::Params theta = sf::random_params(net, rng);
      INFO("trial " << trial);
      check_balanced_rates(q, sf::Objective(net, sf::HalfSquaredError{}, x, y), theta, 1, 1e-12);
      check_balanced_rates(q, sf::Objective(net, sf::MeanSquaredError{}, x, y), theta, 1, 1e-12);
      const auto labels = sf::test::one_hot<Eigen::Matrix<double, 3, 4>>(rng, 3, 4);
      check_balanced_rates(q, sf::Objective(net, sf::SoftmaxCrossEntropy{}, x, labels), theta, 1, 1e-12);
      // A permutation of the samples is still whitened.
      Eigen::Matrix4d perm = Eigen::Matrix4d::Zero();
      perm(0, 2) = perm(1, 0) = perm(2, 3) = perm(3, 1) = 1;
      check_balanced_rates(q, sf::Objective(net, sf::HalfSquaredError{}, perm, y), theta, 1, 1e-12);
    }
  };
  SECTION("identity") { run(sf::Identity{}); }
  SECTION("relu") { run(sf::ReLU{}); }
  SECTION("leaky relu") { run(sf::LeakyReLU{0.2}); }
  SECTION("homogeneous") { run(sf::Homogeneous{2.0}); }
  SECTION("tanh") { run(sf::Tanh{}); }
  SECTION("sigmoid") { run(sf::Sigmoid{}); }
  SECTION("softplus, a user activation integrated numerically") { run(Softplus{}); }
}

TEST_CASE("eq. (48) holds for the first hidden layer of a deeper network with X = I", "[conserved][elementwise]") {
  using Net = sf::Mlp<double, sf::Tanh, 3, 5, 4, 2>;
  const Net net;
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::Matrix3d x = Eigen::Matrix3d::Identity();
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 3>>(rng);
    const Net::Params theta = sf::random_params(net, rng);
    check_balanced_rates(sf::ElementwiseQuantity<Net>(net), sf::Objective(net, sf::HalfSquaredError{}, x, y), theta, 1,
                         1e-12);
  }
}

TEST_CASE("eq. (48) is not conserved when the input is not whitened, unless Φ is ½v² (identity, LeakyReLU)",
          "[conserved][elementwise]") {
  auto run = [](auto act) {
    using A = decltype(act);
    using Net = sf::Mlp<double, A, 4, 6, 3>;
    const Net net(act);
    auto rng = rng_for(1);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 4>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
    const typename Net::Params theta = sf::random_params(net, rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Net::Params velocity = -objective.gradient(theta);
    const auto rate = sf::directional_derivative(sf::ElementwiseQuantity<Net>(net), theta, velocity);
    INFO(A::name());
    if constexpr (std::is_same_v<A, sf::Identity> || std::is_same_v<A, sf::LeakyReLU>) {
      // Φ = v²/2 makes Q_k = −½ × the scaling imbalance, which holds for every input.
      CHECK(rate.norm() < 1e-13 * velocity.norm() * theta.norm());
    } else {
      CHECK(rate.norm() > 1e-3 * velocity.norm());
    }
  };
  run(sf::Identity{});
  run(sf::LeakyReLU{0.3});
  run(sf::Homogeneous{2.0});
  run(sf::Tanh{});
  run(sf::Sigmoid{});
  run(sf::ReLU{});
}

TEST_CASE("the directional derivative is the derivative of Q along the velocity", "[conserved]") {
  using Net = sf::Mlp<double, sf::Sigmoid, 3, 4, 2>;
  const Net net;
  const sf::ElementwiseQuantity<Net> q(net);
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng);
  const Net::Params v = sf::random_params(net, rng);
  const auto exact = sf::directional_derivative(q, theta, v);
  const auto fd = st::curve_derivative([&](double t) { return q.value((theta + t * v).eval()); });
  CHECK(st::relative_error(exact, fd) < 1e-8);
}

TEST_CASE("float and long double quantities agree with double", "[conserved][scalar]") {
  using NetD = sf::Mlp<double, sf::Tanh, 3, 4, 2>;
  using NetF = sf::Mlp<float, sf::Tanh, 3, 4, 2>;
  using NetL = sf::Mlp<long double, sf::Tanh, 3, 4, 2>;
  auto rng = rng_for(0);
  const NetD::Params theta = sf::random_params(NetD{}, rng);
  const auto qd = sf::ElementwiseQuantity<NetD>(NetD{}).value(theta);
  const auto qf = sf::ElementwiseQuantity<NetF>(NetF{}).value(theta.cast<float>().eval());
  const auto ql = sf::ElementwiseQuantity<NetL>(NetL{}).value(theta.cast<long double>().eval());
  CHECK(st::relative_error(qf.cast<double>().eval(), qd) < 1e-5);
  CHECK(st::relative_error(ql.cast<double>().eval(), qd) < 1e-15);
}

TEST_CASE("dynamic-width models give the same quantities as fixed-width ones", "[conserved][dynamic]") {
  using Fixed = sf::Mlp<double, sf::ReLU, 3, 5, 2>;
  using Dyn = sf::Mlp<double, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Dyn dyn({3, 5, 2});
  auto rng = rng_for(0);
  const Fixed::Params theta = sf::random_params(Fixed{}, rng);
  const Dyn::Params theta_dyn = theta;
  CHECK((sf::ScalingImbalance<Dyn>(dyn).value(theta_dyn) - sf::ScalingImbalance<Fixed>(Fixed{}).value(theta)).norm() < 1e-14);
  CHECK((sf::ElementwiseQuantity<Dyn>(dyn).value(theta_dyn) - sf::ElementwiseQuantity<Fixed>(Fixed{}).value(theta)).norm() <
        1e-14);
  using LinDyn = sf::Mlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const LinDyn lin({3, 5, 2});
  const auto q = sf::LayerImbalance<LinDyn>(lin).value(theta_dyn);
  CHECK(q.rows() == 5);
  CHECK(std::abs(q.trace() - sf::LayerImbalanceTrace<LinDyn>(lin).value(theta_dyn)) < 1e-13);
  CHECK_THROWS_AS(sf::LayerImbalance<LinDyn>(lin).value(Eigen::VectorXd::Zero(7).eval()), std::invalid_argument);
}

TEST_CASE("radial layers: the angular momenta of V's columns and U's rows are opposite along gradient flow",
          "[conserved][radial]") {
  using Net = sf::BiasedMlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
  const Net net;
  const sf::AngularMomentum<Net> j(net);
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
    const Net::Params theta = sf::random_params(net, rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const Net::Params velocity = -objective.gradient(theta);
    const auto in = j.incoming(theta, velocity);
    const auto out = j.outgoing(theta, velocity);
    INFO("trial " << trial);
    CHECK((in + in.transpose()).norm() == 0.0);  // antisymmetric
    CHECK(j.relative_residual(theta, velocity) < 1e-14);
    // Eq. (30) as printed (equal momenta, J_in − J_out = 0) fails: the two are opposite.
    CHECK((in - out).norm() > 0.5 * (in.norm() + out.norm()));
    // A velocity that is not a gradient (a random one) violates the identity.
    CHECK(j.relative_residual(theta, sf::random_params(net, rng)) > 1e-2);
  }
}

namespace {
// h(r) = 1/(1 + r): ĝ(x) = x/(1 + x), ĝ/ĝ′ = x(1 + x), Ψ(s) = s²/2 + s³/3 (checked against quadrature).
struct Saturating {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r); }
};
}  // namespace

TEST_CASE("the radial factorisation U g(VᵀX) is a model: its gradient and Hessian are derivatives of its loss",
          "[conserved][radial-factorization]") {
  using Model = sf::RadialFactorization<double, Saturating, 4, 3, 2>;
  const Model model;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 5>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
    const sf::Objective objective(model, sf::MeanSquaredError{}, x, y);
    const Model::Params theta = sf::random_params(model, rng);
    const Model::Params grad = objective.gradient(theta);
    const Model::Params fd = st::finite_difference_gradient([&](const Model::Params& t) { return objective.value(t); }, theta);
    INFO("trial " << trial);
    CHECK(st::relative_error(grad, fd, 1e-3) <= 1e-7);
    const Model::Params v = sf::random_params(model, rng);
    const double step = 1e-5;
    const Model::Params hv_fd = (objective.gradient(theta + step * v) - objective.gradient(theta - step * v)) / (2 * step);
    CHECK(st::relative_error(objective.hessian_vector_product(theta, v), hv_fd, 1e-3) <= 1e-7);
    // The input gradient too.
    const auto gx = objective.input_gradient(theta);
    Eigen::Matrix<double, 4, 5> fdx;
    for (int j = 0; j < 5; ++j)
      for (int i = 0; i < 4; ++i) {
        auto xp = x, xm = x;
        xp(i, j) += step;
        xm(i, j) -= step;
        fdx(i, j) = (sf::Objective(model, sf::MeanSquaredError{}, xp, y).value(theta) -
                     sf::Objective(model, sf::MeanSquaredError{}, xm, y).value(theta)) / (2 * step);
      }
    CHECK(st::relative_error(gx, fdx) <= 1e-7);
  }
}

TEST_CASE("Prop. 14's quantity is conserved column by column for any U, V with X = I, not only on the spectral manifold",
          "[conserved][radial-factorization]") {
  auto run = [](auto profile, bool orthogonal_input) {
    using P = decltype(profile);
    using Model = sf::RadialFactorization<double, P, 4, 3, 2>;
    const Model model(profile);
    const sf::RadialFactorizationQuantity<Model> q(model);
    for (int trial = 0; trial < 8; ++trial) {
      auto rng = rng_for(trial);
      Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
      if (orthogonal_input) x = Eigen::HouseholderQR<Eigen::Matrix4d>(sf::test::normal<Eigen::Matrix4d>(rng)).householderQ();
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 4>>(rng);
      const typename Model::Params theta = sf::random_params(model, rng);
      const sf::Objective objective(model, sf::HalfSquaredError{}, x, y);
      const typename Model::Params velocity = -objective.gradient(theta);
      typename Model::Params v_u = velocity, v_v = velocity;
      model.v(v_u).setZero();
      model.u(v_v).setZero();
      const Eigen::Vector3d rate = sf::directional_derivative(q, theta, velocity);
      const Eigen::Vector3d rate_u = sf::directional_derivative(q, theta, v_u);
      const Eigen::Vector3d rate_v = sf::directional_derivative(q, theta, v_v);
      INFO("trial " << trial << " rates " << rate.transpose() << " | " << rate_u.transpose());
      CHECK(rate.cwiseAbs().maxCoeff() <= 1e-13 * (rate_u.cwiseAbs() + rate_v.cwiseAbs()).maxCoeff());
      CHECK(rate_u.cwiseAbs().maxCoeff() > 1e-3);
    }
  };
  run(sf::InverseSquare{}, false);
  run(sf::InverseSquare{}, true);
  run(Saturating{}, false);  // Ψ by quadrature
  run(Saturating{}, true);
}

TEST_CASE("Prop. 14's quantity drifts for a non-orthogonal input unless h is a power (then it is a scaling symmetry)",
          "[conserved][radial-factorization]") {
  auto rate_for = [](auto profile) {
    using Model = sf::RadialFactorization<double, decltype(profile), 4, 3, 2>;
    const Model model(profile);
    auto rng = rng_for(0);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const typename Model::Params theta = sf::random_params(model, rng);
    const sf::Objective objective(model, sf::HalfSquaredError{}, x, y);
    const typename Model::Params velocity = -objective.gradient(theta);
    return sf::directional_derivative(sf::RadialFactorizationQuantity<Model>(model), theta, velocity).norm() /
           (velocity.norm() * theta.norm());
  };
  CHECK(rate_for(Saturating{}) > 1e-3);
  // h = r⁻²: (u_i, v_i) ↦ (c u_i, c v_i) leaves u_i g(v_iᵀX) unchanged for every X, a linear symmetry
  // whose Q_M is ‖u_i‖² + ‖v_i‖².
  CHECK(rate_for(sf::InverseSquare{}) < 1e-14);
}

TEST_CASE("the profile potential: closed form for h = r⁻², quadrature otherwise", "[conserved][radial-factorization]") {
  for (double s : {0.1, 0.7, 1.9, 4.0}) {
    CHECK(sf::profile_potential(sf::InverseSquare{}, s) == Approx(-s * s / 2).epsilon(1e-15));
    CHECK(st::relative_error(sf::profile_potential(Saturating{}, s), s * s / 2 + s * s * s / 3) <= 1e-14);
    // With lower limit s₀, Ψ shifts by a constant.
    CHECK(sf::profile_potential(sf::InverseSquare{}, s, 1.0) == Approx(-s * s / 2 + 0.5).epsilon(1e-14));
    CHECK(st::relative_error(sf::profile_potential(Saturating{}, s, 0.5) + (0.125 + 0.125 / 3), s * s / 2 + s * s * s / 3) <=
          1e-14);
  }
}

TEST_CASE("Q_M = ⟨θ, M̄θ⟩ of the general linear action is ⟨M, layer imbalance⟩ and is conserved", "[conserved][lie]") {
  using Net = sf::BiasedMlp<double, sf::Identity, 3, 4, 2>;
  const Net net;
  const sf::GeneralLinearAction<Net> action(net);
  const sf::LayerImbalance<Net> imbalance(net);
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
    const Net::Params theta = sf::random_params(net, rng);
    const Eigen::Matrix4d m = action.algebra().random(rng);
    const Eigen::Matrix4d sym = 0.5 * (m + m.transpose());
    const Eigen::Matrix4d anti = 0.5 * (m - m.transpose());
    const sf::LieQuantity q(action, m);
    const Eigen::Matrix4d full = imbalance.value(theta);
    INFO("trial " << trial);
    CHECK(q.value(theta) == Approx((m.cwiseProduct(full)).sum()).epsilon(1e-13));
    CHECK(q.through_generator(theta) == Approx(theta.dot(action.generator(m, theta))).epsilon(1e-15));
    CHECK(q.value(theta) == Approx(q.through_generator(theta)).epsilon(1e-13));
    // Only the symmetric part counts; an antisymmetric M gives 0 for every θ.
    CHECK(q.value(theta) == Approx(sf::lie_quantity(action, sym).value(theta)).epsilon(1e-13));
    CHECK(std::abs(sf::lie_quantity(action, anti).value(theta)) <= 1e-15 * theta.squaredNorm() * anti.norm());
    CHECK(std::abs(sf::lie_quantity(action, anti).through_generator(theta)) <= 1e-15 * theta.squaredNorm() * anti.norm());
    // Conserved: dQ_M/dt along −∇L vanishes, by its own derivative and by dual numbers alike.
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const Net::Params velocity = -objective.gradient(theta);
    CHECK(std::abs(sf::directional_derivative(q, theta, velocity)) <= 1e-13 * theta.norm() * velocity.norm() * m.norm());
    const Net::Params v = sf::random_params(net, rng);
    CHECK(sf::directional_derivative(q, theta, v) ==
          Approx((m.cwiseProduct(sf::directional_derivative(imbalance, theta, v))).sum()).epsilon(1e-12));
    // The symmetric basis E_kl + E_lk (k ≠ l) picks 2 Q_kl, not Q_kl as Example 7 states.
    Eigen::Matrix4d e = Eigen::Matrix4d::Zero();
    e(0, 2) = e(2, 0) = 1;
    CHECK(sf::lie_quantity(action, e).value(theta) == Approx(2 * full(0, 2)).epsilon(1e-13));
    CHECK(sf::lie_quantity(action, e).through_generator(theta) == Approx(2 * full(0, 2)).epsilon(1e-13));
  }
}

TEST_CASE("Q_m of the positive scaling action is ⟨m, scaling imbalance⟩ and is conserved", "[conserved][lie]") {
  using Net = sf::BiasedMlp<double, sf::Homogeneous, 3, 5, 2>;
  const Net net(sf::Homogeneous{2.5});
  const sf::ScalingAction<Net> action(net);
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
    const Net::Params theta = sf::random_params(net, rng);
    const Eigen::Matrix<double, 5, 1> m = action.algebra().random(rng);
    const sf::LieQuantity q(action, m);
    CHECK(q.value(theta) == Approx(m.dot(sf::ScalingImbalance<Net>(net).value(theta))).epsilon(1e-13));
    CHECK(q.value(theta) == Approx(theta.dot(action.generator(m, theta))).epsilon(1e-13));
    const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
    const Net::Params velocity = -objective.gradient(theta);
    CHECK(std::abs(sf::directional_derivative(q, theta, velocity)) <= 1e-13 * theta.norm() * velocity.norm() * m.norm());
  }
}

TEST_CASE("every Q_M of the orthogonal action on a radial layer vanishes identically", "[conserved][lie][radial]") {
  using Net = sf::Mlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
  const Net net;
  const sf::OrthogonalAction<Net> action(net);
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Net::Params theta = sf::random_params(net, rng);
    for (sf::Index i = 0; i < action.algebra().dimension(); ++i)
      CHECK(std::abs(sf::lie_quantity(action, action.algebra().basis(i)).value(theta)) <= 1e-15 * theta.squaredNorm());
    CHECK(std::abs(sf::lie_quantity(action, action.algebra().random(rng)).value(theta)) <= 1e-14 * theta.squaredNorm());
  }
}

TEST_CASE("Q_M of a product action over the hidden layers of a deep network is the sum of the layers' Q_M",
          "[conserved][lie]") {
  using Net = sf::Mlp<double, sf::Identity, 3, 4, 5, 2>;
  const Net net;
  const auto action = sf::product_symmetry(net);
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng);
  const auto m = action.algebra().random(rng);
  const double expected = (std::get<0>(m).cwiseProduct(sf::LayerImbalance<Net, 1>(net).value(theta))).sum() +
                          (std::get<1>(m).cwiseProduct(sf::LayerImbalance<Net, 2>(net).value(theta))).sum();
  CHECK(sf::lie_quantity(action, m).value(theta) == Approx(expected).epsilon(1e-13));
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 4>>(rng);
  const Net::Params velocity = -sf::Objective(net, sf::HalfSquaredError{}, x, y).gradient(theta);
  CHECK(std::abs(sf::directional_derivative(sf::lie_quantity(action, m), theta, velocity)) <= 1e-12 * theta.norm() * velocity.norm());
}

TEST_CASE("wide layers: the imbalance matrix from symmetric rank-k updates equals the general products",
          "[conserved][linear]") {
  using Net = sf::BiasedMlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  for (const sf::Index h : {63, 64, 90}) {
    const Net net({20, h, 7});
    auto rng = rng_for(static_cast<int>(h));
    const Net::Params theta = sf::random_params(net, rng);
    const Eigen::MatrixXd w = net.weight<1>(theta), u = net.weight<2>(theta);
    const Eigen::VectorXd b = net.bias<1>(theta);
    const Eigen::MatrixXd expected = w * w.transpose() + b * b.transpose() - u.transpose() * u;
    const Eigen::MatrixXd q = sf::LayerImbalance<Net>(net).value(theta);
    INFO("h = " << h);
    CHECK(st::relative_error(q, expected) < 1e-14);
    CHECK((q - q.transpose()).norm() == 0.0);
    CHECK(st::relative_error(sf::layer_imbalance_at(net, 1, theta), expected) < 1e-14);
  }
}
