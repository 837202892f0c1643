// Specification of the model layer: the objective's value, gradient, Hessian-vector product and
// Hessian are the derivatives they claim to be, for every activation and loss.
#include "support.hpp"

#include <cstddef>
#include <vector>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

// A smooth user function for the radial activation: f(r) = 1 / (1 + r²).
struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};

/// ∇L against central differences of L over `trials` random (X, Y, θ), for each of `losses` on the
/// same data: the differences of every loss are taken at the same perturbed θ, so the network runs
/// once per perturbation and each loss is taken on its outputs, L = loss(F(θ, X), Y), exactly what
/// objective.value computes.
template <class Model, class... Losses>
void check_derivatives(const Model& net, int trials, bool classes, const Losses&... losses) {
  using Params = typename Model::Params;
  constexpr int k = 7;
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::Matrix<double, Model::input_width, k> x =
        sf::random_normal<Eigen::Matrix<double, Model::input_width, k>>(net.input_size(), k, rng);
    Eigen::Matrix<double, Model::output_width, k> y =
        classes ? sf::test::one_hot<Eigen::Matrix<double, Model::output_width, k>>(rng, net.output_size(), k)
                : sf::random_normal<Eigen::Matrix<double, Model::output_width, k>>(net.output_size(), k, rng);
    const Params theta = sf::random_params(net, rng, 0.7);
    std::vector<Eigen::Matrix<double, Model::output_width, k>> outputs;  // F at each perturbed θ, in order
    const auto check = [&](const auto& loss) {
      const sf::Objective objective(net, loss, x, y);
      const Params grad = objective.gradient(theta);
      const bool first = outputs.empty();
      std::size_t next = 0;
      const Params fd = st::finite_difference_gradient(
          [&](const Params& t) {
            if (first) outputs.push_back(objective.output(t));
            return objective.loss().value(outputs[next++], objective.targets());
          },
          theta);
      INFO("trial " << trial);
      // Central differences with step ∛ε have error O(ε^{2/3}) ≈ 4e-11 relative to the third derivative.
      CHECK(st::relative_error(grad, fd, 1e-3) <= 1e-7);
    };
    (check(losses), ...);
  }
}

template <class Activation>
void check_all_losses(const Activation& act) {
  using Net = sf::BiasedMlp<double, Activation, 4, 6, 5, 3>;
  const Net net(act);
  constexpr int draws = 20;  // random (X, Y, θ) per network and loss
  check_derivatives(net, draws, false, sf::HalfSquaredError{}, sf::MeanSquaredError{});
  check_derivatives(net, draws, true, sf::SoftmaxCrossEntropy{});
  using Plain = sf::Mlp<double, Activation, 4, 6, 3>;
  check_derivatives(Plain(act), draws, false, sf::HalfSquaredError{});
}

}  // namespace

TEST_CASE("the gradient is the derivative of the loss, for every activation and loss", "[model][gradient]") {
  SECTION("identity") { check_all_losses(sf::Identity{}); }
  SECTION("relu") { check_all_losses(sf::ReLU{}); }
  SECTION("leaky relu") { check_all_losses(sf::LeakyReLU{0.1}); }
  SECTION("homogeneous, alpha = 2") { check_all_losses(sf::Homogeneous{2.0}); }
  SECTION("homogeneous, alpha = 1.5") { check_all_losses(sf::Homogeneous{1.5}); }
  SECTION("tanh") { check_all_losses(sf::Tanh{}); }
  SECTION("sigmoid") { check_all_losses(sf::Sigmoid{}); }
  SECTION("radial") { check_all_losses(sf::Radial<InverseQuadratic>{}); }
}

TEST_CASE("the Hessian is symmetric, is the derivative of the gradient and matches H·v", "[model][hessian]") {
  using Net = sf::BiasedMlp<double, sf::Tanh, 3, 5, 4, 2>;
  const Net net;
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
    const Net::Params theta = sf::random_params(net, rng);
    const auto h = objective.hessian(theta);
    INFO("trial " << trial);
    CHECK((h - h.transpose()).norm() == 0.0);
    // Each column j is d/dθ_j ∇L: compare with central differences of the analytic gradient.
    Net::Params e = Net::Params::Zero();
    const double step = 1e-5;
    for (sf::Index j = 0; j < net.size(); ++j) {
      e.setZero();
      e[j] = step;
      const Net::Params fd = (objective.gradient(theta + e) - objective.gradient(theta - e)) / (2 * step);
      CHECK(st::relative_error(h.col(j), fd, 1e-3) <= 1e-7);
    }
    // H v from the dual-number product equals the Hessian times v.
    const Net::Params v = sf::random_params(net, rng);
    CHECK(st::relative_error(objective.hessian_vector_product(theta, v), (h * v).eval()) <= 1e-12);
  }
}

TEST_CASE("the Hessian of a two-layer linear network at a point is known in closed form", "[model][hessian]") {
  // L = ½‖Y − U V X‖² with X = I: ∂²L/∂V² = UᵀU ⊗ I acting on vec(V) (column-major) as V ↦ UᵀU V.
  using Net = sf::TwoLayer<double, sf::Identity, 3, 4, 2>;
  const Net net;
  auto rng = rng_for(0);
  const Eigen::Matrix3d x = Eigen::Matrix3d::Identity();
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 3>>(rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const Net::Params theta = sf::random_params(net, rng);
  Net::Params dv = Net::Params::Zero();
  net.weight<1>(dv) = sf::test::normal<Eigen::Matrix<double, 4, 3>>(rng);
  const Net::Params hv = objective.hessian_vector_product(theta, dv);
  const auto u = net.weight<2>(theta);
  const Eigen::Matrix<double, 4, 3> expected = u.transpose() * u * net.weight<1>(dv);
  CHECK(st::relative_error(net.weight<1>(hv), expected) <= 1e-14);
}

TEST_CASE("float and long double models compute the same derivatives", "[model][scalar]") {
  auto rng = rng_for(0);
  using NetF = sf::Mlp<float, sf::Sigmoid, 3, 4, 2>;
  using NetL = sf::Mlp<long double, sf::Sigmoid, 3, 4, 2>;
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
  const NetL netl;
  const NetL::Params tl = sf::random_params(netl, rng);
  const sf::Objective ol(netl, sf::HalfSquaredError{}, x.cast<long double>().eval(), y.cast<long double>().eval());
  const sf::Objective of(NetF{}, sf::HalfSquaredError{}, x.cast<float>().eval(), y.cast<float>().eval());
  const NetF::Params tf = tl.cast<float>();
  const auto gl = ol.gradient(tl);
  const auto gf = of.gradient(tf);
  // float: relative error of the gradient bounded by a few hundred ulps (ε_float ≈ 1.2e-7).
  CHECK(st::relative_error(gf.cast<double>().eval(), gl.cast<double>().eval()) <= 1e-5);
  const auto fdl = st::finite_difference_gradient([&](const NetL::Params& t) { return ol.value(t); }, tl);
  CHECK(st::relative_error(gl.cast<double>().eval(), fdl.cast<double>().eval()) <= 1e-9);
}

TEST_CASE("fixed-size and dynamic-size models agree to the last bit", "[model][dynamic]") {
  using Fixed = sf::BiasedMlp<double, sf::LeakyReLU, 4, 6, 3>;
  using Dyn = sf::BiasedMlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  using Mixed = sf::BiasedMlp<double, sf::LeakyReLU, 4, sf::Dynamic, 3>;
  static_assert(Fixed::num_params == 4 * 6 + 6 + 6 * 3 + 3);
  static_assert(Dyn::num_params == sf::Dynamic && Mixed::num_params == sf::Dynamic);
  const Fixed fixed(sf::LeakyReLU{0.2});
  const Dyn dyn({4, 6, 3}, sf::LeakyReLU{0.2});
  const Mixed mixed({4, 6, 3}, sf::LeakyReLU{0.2});
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 8>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 8>>(rng);
    const Fixed::Params theta = sf::random_params(fixed, rng);
    const sf::Objective of(fixed, sf::HalfSquaredError{}, x, y);
    const sf::Objective od(dyn, sf::HalfSquaredError{}, Eigen::MatrixXd(x), Eigen::MatrixXd(y));
    const sf::Objective om(mixed, sf::HalfSquaredError{}, Eigen::MatrixXd(x), Eigen::MatrixXd(y));
    const Eigen::VectorXd dtheta = theta;
    const Eigen::VectorXd gf = of.gradient(theta);
    CHECK(st::relative_error(od.gradient(dtheta), gf) <= 1e-15);
    CHECK(st::relative_error(om.gradient(dtheta), gf) <= 1e-15);
    CHECK(st::relative_error(od.value(dtheta), of.value(theta)) <= 1e-15);
    const Eigen::VectorXd v = sf::random_params(dyn, rng);
    const Fixed::Params vf = v;
    CHECK(st::relative_error(od.hessian_vector_product(dtheta, v), Eigen::VectorXd(of.hessian_vector_product(theta, vf))) <= 1e-15);
  }
}

TEST_CASE("the flat parameter vector is laid out layer by layer", "[model][layout]") {
  using Net = sf::BiasedMlp<double, sf::Tanh, 2, 3, 1>;
  const Net net;
  Net::Params theta;
  for (int i = 0; i < Net::num_params; ++i) theta[i] = i;
  CHECK(net.weight<1>(theta)(1, 0) == 1.0);  // W_1 is column-major at offset 0
  CHECK(net.weight<1>(theta)(0, 1) == 3.0);
  CHECK(net.bias<1>(theta)(0) == 6.0);       // b_1 follows W_1
  CHECK(net.weight<2>(theta)(0, 2) == 11.0);  // W_2 after b_1
  CHECK(net.bias<2>(theta)(0) == 12.0);
  CHECK(net.weight_at(2, theta)(0, 2) == 11.0);
  CHECK_THROWS_AS(net.weight_at(3, theta), std::out_of_range);
}

TEST_CASE("wrong runtime shapes throw with the expected and actual shapes", "[model][errors]") {
  using Net = sf::Mlp<double, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({4, 5, 3});
  const Eigen::MatrixXd x = Eigen::MatrixXd::Ones(4, 6);
  const Eigen::MatrixXd y = Eigen::MatrixXd::Ones(3, 6);
  CHECK_THROWS_WITH(sf::Objective(net, sf::HalfSquaredError{}, Eigen::MatrixXd::Ones(5, 6).eval(), y),
                    Catch::Contains("input X has shape 5x6, expected 4 rows"));
  CHECK_THROWS_WITH(sf::Objective(net, sf::HalfSquaredError{}, x, Eigen::MatrixXd::Ones(3, 5).eval()),
                    Catch::Contains("target Y has shape 3x5, expected 3x6"));
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  CHECK_THROWS_WITH(objective.value(Eigen::VectorXd::Ones(7)),
                    Catch::Contains("parameter vector θ has length 7, expected 35"));
  CHECK_THROWS_WITH(objective.gradient(Eigen::VectorXd::Ones(36)), Catch::Contains("expected 35"));
  CHECK_THROWS_WITH(Net({4, 0, 3}), Catch::Contains("width 1 is 0"));
  using Mixed = sf::Mlp<double, sf::Tanh, 4, sf::Dynamic, 3>;
  CHECK_THROWS_WITH(Mixed({5, 2, 3}), Catch::Contains("width 0 is 5, but the model type fixes it to 4"));
}

TEST_CASE("non-finite parameters or data give non-finite values, never a crash", "[model][nonfinite]") {
  // Documented behaviour: NaN and infinity propagate through value and gradient (ReLU passes NaN
  // through rather than clamping it to zero); integrators detect them and stop.
  using Net = sf::Mlp<double, sf::ReLU, 3, 4, 2>;
  const Net net;
  auto rng = rng_for(0);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  Net::Params theta = sf::random_params(net, rng);
  theta[0] = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(objective.value(theta)));
  CHECK_FALSE(objective.gradient(theta).allFinite());
  theta[0] = std::numeric_limits<double>::infinity();
  CHECK_FALSE(std::isfinite(objective.value(theta)));
  auto x_bad = x;
  x_bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
  const sf::Objective bad(net, sf::HalfSquaredError{}, x_bad, y);
  CHECK(std::isnan(bad.value(sf::random_params(net, rng))));
}

TEST_CASE("the input gradient is the derivative with respect to the data", "[model][input-gradient]") {
  using Net = sf::BiasedMlp<double, sf::Sigmoid, 3, 5, 4>;
  const Net net;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
    const auto y = sf::test::one_hot<Eigen::Matrix<double, 4, 4>>(rng, 4, 4);
    const Net::Params theta = sf::random_params(net, rng);
    const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, x, y);
    const auto gx = objective.input_gradient(theta);
    using Flat = Eigen::Matrix<double, 12, 1>;
    const Flat flat = Eigen::Map<const Flat>(x.data());
    const Flat fd = st::finite_difference_gradient(
        [&](const Flat& f) {
          const sf::Objective o(net, sf::SoftmaxCrossEntropy{}, Eigen::Map<const Eigen::Matrix<double, 3, 4>>(f.data()).eval(), y);
          return o.value(theta);
        },
        flat);
    CHECK(st::relative_error(Eigen::Map<const Flat>(gx.data()), fd, 1e-3) <= 1e-7);
  }
}

TEMPLATE_TEST_CASE("float gradients agree with float central differences to the stated tolerance", "[model][gradient][float]",
                   sf::Identity, sf::Tanh, sf::Sigmoid) {
  // Smooth activations only: a float step of ∛ε ≈ 4.9e-3 often straddles a ReLU kink (the
  // piecewise-linear ones are checked against the double gradient below). In float, the rounding of L (ε ≈ 1.2e-7) divided by the step ∛ε ≈ 4.9e-3 bounds the
  // central-difference error near 1e-4 relative; the analytic gradient is far more accurate.
  using Net = sf::BiasedMlp<float, TestType, 3, 5, 2>;
  const Net net;
  for (int trial = 0; trial < 50; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::Matrix<float, 3, 6> x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng).cast<float>();
    const Eigen::Matrix<float, 2, 6> y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng).cast<float>();
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Net::Params theta = sf::random_params(net, rng, 0.7);
    const auto fd = st::finite_difference_gradient([&](const typename Net::Params& t) { return objective.value(t); }, theta);
    INFO("trial " << trial);
    CHECK(st::relative_error(objective.gradient(theta), fd, 1e-2) <= 2e-3);
  }
}

TEMPLATE_TEST_CASE("float gradients equal double gradients up to float rounding", "[model][gradient][float]",
                   sf::ReLU, sf::LeakyReLU, sf::Homogeneous, sf::Identity, sf::Tanh, sf::Sigmoid) {
  using NetF = sf::BiasedMlp<float, TestType, 3, 5, 2>;
  using NetD = sf::BiasedMlp<double, TestType, 3, 5, 2>;
  for (int trial = 0; trial < 50; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const typename NetD::Params theta = sf::random_params(NetD{}, rng, 0.7);
    const sf::Objective od(NetD{}, sf::HalfSquaredError{}, x, y);
    const sf::Objective of(NetF{}, sf::HalfSquaredError{}, x.cast<float>().eval(), y.cast<float>().eval());
    const Eigen::VectorXd gf = of.gradient(theta.template cast<float>()).template cast<double>();
    INFO("trial " << trial);
    // A few hundred float ulps (ε_float ≈ 1.2e-7), unless a pre-activation sits within rounding of a kink.
    CHECK(st::relative_error(gf, Eigen::VectorXd(od.gradient(theta)), 1e-3) <= 1e-5);
  }
}
