// Specification of conservation along integrated trajectories, for every (activation, quantity)
// pair: adaptive gradient flow (Dormand–Prince 5(4), rtol 1e-12) keeps Q to 1e-9 relative over a
// run in which the loss falls at least 100-fold, while gradient descent over the same descent
// drifts by orders of magnitude more. "Relative" is relative to the size of the two terms Q is the
// difference of (e.g. ‖W_i‖² + ‖W_{i+1}‖² for the layer imbalance, ½‖U‖² + Σ|Φ(V)| for eq. 48), the
// normalisation of Appendix D, since Q itself may be near zero.
#include "support.hpp"

#include <symflow/symflow.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::magnitude;
using sf::test::Softplus;

namespace {

struct Outcome {
  double loss_ratio = 0;  // L(θ₀)/L(θ_end)
  double drift = 0;       // max_t ‖Q(θ_t) − Q(θ₀)‖ / scale
  sf::Index steps = 0;
  sf::StopReason reason = sf::StopReason::step_budget;
};

/// Runs `method` from θ until the loss has fallen 100-fold (or the budget ends), watching Q.
template <class Method, class Q, class Objective>
Outcome watch(const Method& method, const Q& q, const Objective& objective, typename Q::Params theta, double scale,
              sf::Index max_steps = 2'000'000) {
  const typename Q::Value q0 = q.value(theta);
  const double loss0 = objective.value(theta);
  Outcome out;
  auto observer = [&](const sf::Snapshot<typename Q::Params>& s) {
    const typename Q::Value now = q.value(s.theta);
    const typename Q::Value diff = now - q0;
    out.drift = std::max(out.drift, magnitude(diff) / scale);
  };
  const auto status = sf::run(method, objective, theta,
                              sf::Stopping{.max_steps = max_steps, .loss_tolerance = loss0 / 100}, observer);
  out.loss_ratio = loss0 / static_cast<double>(status.loss);
  out.steps = status.step;
  out.reason = status.reason;
  return out;
}

const sf::DormandPrince flow{.rtol = 1e-12, .atol = 1e-14};

/// Adaptive flow conserves Q to 1e-9; gradient descent at learning rate `eta` drifts ≥ 1000 times more
/// (and at least 1e-7) over the same 100-fold descent.
template <class Q, class Objective>
void check_pair(const std::string& label, const Q& q, const Objective& objective, const typename Q::Params& theta,
                double scale, double eta) {
  const Outcome gf = watch(flow, q, objective, theta, scale);
  const Outcome gd = watch(sf::GradientDescent{eta}, q, objective, theta, scale);
  INFO(label << ": flow drift " << gf.drift << " over " << gf.steps << " steps (loss ÷" << gf.loss_ratio
             << "), gradient descent drift " << gd.drift << " over " << gd.steps << " steps (loss ÷" << gd.loss_ratio
             << ")");
  CHECK(gf.reason == sf::StopReason::loss_tolerance);
  CHECK(gf.loss_ratio >= 100);
  CHECK(gf.drift <= 1e-9);
  CHECK(gd.reason == sf::StopReason::loss_tolerance);
  CHECK(gd.drift >= std::max(1e3 * gf.drift, 1e-7));
}

/// A whitened problem: X = I_n, targets from a random teacher of the same architecture, so that
/// zero loss is reachable.
template <class Net>
auto whitened_problem(const Net& net, std::mt19937_64& rng) {
  using X = Eigen::Matrix<double, Net::input_width, Net::input_width>;
  const X x = X::Identity(net.input_size(), net.input_size());
  const typename Net::Params teacher = sf::random_params(net, rng, 0.8);
  const auto y = net.forward(teacher, x);
  return std::make_pair(x, y);
}

// A smooth radial profile f(r) = 1/(1 + r²).
struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};

template <class Net>
double two_layer_scale(const Net& net, const typename Net::Params& theta, int layer = 1) {
  return net.weight_at(layer, theta).squaredNorm() + net.weight_at(layer + 1, theta).squaredNorm();
}

}  // namespace

TEST_CASE("linear layers: adaptive flow conserves every form of the imbalance; gradient descent drifts",
          "[conserved][flow][linear]") {
  using Net = sf::Mlp<double, sf::Identity, 4, 6, 3>;
  const Net net;
  for (int trial = 0; trial < 2; ++trial) {
    auto rng = rng_for(trial);
    const auto [x, y] = whitened_problem(net, rng);
    const Net::Params theta = sf::random_params(net, rng, 0.5);
    const double scale = two_layer_scale(net, theta);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const sf::Objective mse(net, sf::MeanSquaredError{}, x, y);
    const sf::GeneralLinearAction<Net> action(net);
    check_pair("layer imbalance", sf::LayerImbalance<Net>(net), objective, theta, scale, 0.05);
    check_pair("layer imbalance trace, MSE", sf::LayerImbalanceTrace<Net>(net), mse, theta, scale, 0.5);
    check_pair("scaling imbalance", sf::ScalingImbalance<Net>(net), objective, theta, scale, 0.05);
    check_pair("eq. (48)", sf::ElementwiseQuantity<Net>(net), objective, theta, scale, 0.05);
    check_pair("Q_M of GL_h", sf::lie_quantity(action, action.algebra().random(rng)), objective, theta, scale, 0.05);
  }
}

TEST_CASE("deep linear network: the imbalance of every pair of layers is conserved", "[conserved][flow][linear]") {
  using Net = sf::BiasedMlp<double, sf::Identity, 3, 5, 4, 2>;
  const Net net;
  auto rng = rng_for(0);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
  const Net::Params teacher = sf::random_params(net, rng, 0.8);
  const auto y = net.forward(teacher, x);
  const Net::Params theta = sf::random_params(net, rng, 0.6);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const double scale = theta.squaredNorm();
  check_pair("all traces", sf::LayerImbalanceTraces<Net>(net), objective, theta, scale, 0.002);
  check_pair("layer 2 matrix", sf::LayerImbalance<Net, 2>(net), objective, theta, scale, 0.002);
  check_pair("product Q_M", sf::lie_quantity(sf::product_symmetry(net), sf::product_symmetry(net).algebra().random(rng)),
             objective, theta, scale, 0.002);
}

TEST_CASE("homogeneous activations: per-unit scaling imbalance, Q_M and eq. (48) are conserved", "[conserved][flow][scaling]") {
  auto run = [](auto act, double eta) {
    using A = decltype(act);
    using Net = sf::Mlp<double, A, 4, 8, 3>;
    const Net net(act);
    auto rng = rng_for(1);
    const auto [x, y] = whitened_problem(net, rng);
    const typename Net::Params theta = sf::random_params(net, rng, 0.5);
    const double scale = two_layer_scale(net, theta);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const sf::ScalingAction<Net> action(net);
    check_pair(A::name() + " scaling imbalance", sf::ScalingImbalance<Net>(net), objective, theta, scale, eta);
    check_pair(A::name() + " Q_m", sf::lie_quantity(action, action.algebra().random(rng)), objective, theta, scale, eta);
    check_pair(A::name() + " eq. (48)", sf::ElementwiseQuantity<Net>(net), objective, theta, scale, eta);
  };
  run(sf::ReLU{}, 0.05);
  run(sf::LeakyReLU{0.1}, 0.05);
  run(sf::Homogeneous{2.0}, 0.02);
}

TEST_CASE("deep ReLU network with biases and non-whitened data: the scaling imbalance of every hidden unit",
          "[conserved][flow][scaling]") {
  using Net = sf::BiasedMlp<double, sf::LeakyReLU, 3, 5, 4, 2>;
  const Net net(sf::LeakyReLU{0.2});
  auto rng = rng_for(2);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 8>>(rng);
  const Net::Params teacher = sf::random_params(net, rng, 0.8);
  const auto y = net.forward(teacher, x);
  const Net::Params theta = sf::random_params(net, rng, 0.6);
  check_pair("all units", sf::ScalingImbalances<Net>(net), sf::Objective(net, sf::MeanSquaredError{}, x, y), theta,
             theta.squaredNorm(), 0.2);
}

TEST_CASE("smooth elementwise activations with X = I: eq. (48) is conserved, for closed-form and quadrature potentials",
          "[conserved][flow][elementwise]") {
  auto run = [](auto act, double eta) {
    using A = decltype(act);
    using Net = sf::Mlp<double, A, 4, 8, 3>;
    const Net net(act);
    auto rng = rng_for(3);
    const auto [x, y] = whitened_problem(net, rng);
    const typename Net::Params theta = sf::random_params(net, rng, 0.5);
    const sf::ElementwiseQuantity<Net> q(net);
    const double scale = q.outgoing(theta) + q.potentials(theta).cwiseAbs().sum();
    check_pair(A::name() + " eq. (48), ½‖·‖²", q, sf::Objective(net, sf::HalfSquaredError{}, x, y), theta, scale, eta);
    check_pair(A::name() + " eq. (48), MSE", q, sf::Objective(net, sf::MeanSquaredError{}, x, y), theta, scale,
               eta * 6);
  };
  run(sf::Tanh{}, 0.05);
  run(sf::Sigmoid{}, 0.2);
  run(Softplus{}, 0.1);
}

TEST_CASE("eq. (48) is not conserved by the flow when the input is not whitened", "[conserved][flow][elementwise]") {
  using Net = sf::Mlp<double, sf::Tanh, 4, 8, 3>;
  const Net net;
  auto rng = rng_for(4);
  const auto x = sf::test::normal<Eigen::Matrix<double, 4, 4>>(rng);
  const Net::Params teacher = sf::random_params(net, rng, 0.8);
  const auto y = net.forward(teacher, x);
  const Net::Params theta = sf::random_params(net, rng, 0.5);
  const sf::ElementwiseQuantity<Net> q(net);
  const double scale = q.outgoing(theta) + q.potentials(theta).cwiseAbs().sum();
  const Outcome gf = watch(flow, q, sf::Objective(net, sf::HalfSquaredError{}, x, y), theta, scale);
  INFO("flow drift " << gf.drift << ", loss ÷" << gf.loss_ratio);
  CHECK(gf.loss_ratio >= 100);
  CHECK(gf.drift > 1e-3);
}

TEST_CASE("radial layers: along the flow the angular-momentum residual vanishes and every Q_M of O(h) is zero",
          "[conserved][flow][radial]") {
  using Net = sf::Mlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
  const Net net;
  auto rng = rng_for(5);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
  const Net::Params teacher = sf::random_params(net, rng, 0.8);
  const auto y = net.forward(teacher, x);
  Net::Params theta = sf::random_params(net, rng, 0.6);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const sf::AngularMomentum<Net> j(net);
  const sf::OrthogonalAction<Net> action(net);
  const Eigen::Matrix4d m = action.algebra().random(rng);
  double worst_residual = 0, worst_q = 0, largest_momentum = 0;
  Net::Params previous = theta;
  double worst_secant = 0;
  auto observer = [&](const sf::Snapshot<Net::Params>& s) {
    const Net::Params velocity = -s.gradient;
    worst_residual = std::max(worst_residual, j.relative_residual(s.theta, velocity));
    largest_momentum = std::max(largest_momentum, j.incoming(s.theta, velocity).norm());
    worst_q = std::max(worst_q, std::abs(sf::lie_quantity(action, m).value(s.theta)) / s.theta.squaredNorm());
    // The trajectory's own secant (θ_t − θ_{t−1})/h approximates θ̇ to O(h): its residual is small too.
    if (s.step > 0) worst_secant = std::max(worst_secant, j.relative_residual(s.theta, (s.theta - previous).eval()));
    previous = s.theta;
  };
  const double loss0 = objective.value(theta);
  const auto status = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-12, .max_step = 0.01}, objective, theta,
                              sf::Stopping{.max_steps = 1'000'000, .loss_tolerance = loss0 / 100}, observer);
  INFO("residual " << worst_residual << ", secant residual " << worst_secant << ", Q_M " << worst_q);
  CHECK(status.reason == sf::StopReason::loss_tolerance);
  CHECK(largest_momentum > 1e-2);  // the momenta themselves are not small
  CHECK(worst_residual < 1e-13);
  CHECK(worst_secant < 0.05);
  CHECK(worst_q < 1e-15);
}

namespace {
// h(r) = 1/(1 + r): a radial profile whose potential symflow integrates numerically.
struct Saturating {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r); }
};
}  // namespace

TEST_CASE("the radial factorisation: Prop. 14's quantity is conserved along the flow", "[conserved][flow][radial-factorization]") {
  auto run = [](auto profile, double eta) {
    using Model = sf::RadialFactorization<double, decltype(profile), 4, 3, 3>;
    const Model model(profile);
    auto rng = rng_for(6);
    const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
    const Eigen::Matrix<double, 3, 4> y = model.forward(sf::random_params(model, rng, 1.0), x);
    const typename Model::Params theta = sf::random_params(model, rng, 1.0);
    const sf::RadialFactorizationQuantity<Model> q(model);
    const double scale = model.u(theta).squaredNorm() + model.v(theta).squaredNorm();
    check_pair("radial factorisation", q, sf::Objective(model, sf::HalfSquaredError{}, x, y), theta, scale, eta);
  };
  run(sf::InverseSquare{}, 0.01);
  run(Saturating{}, 0.05);
}
