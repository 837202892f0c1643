// Specification of the junction symmetries of layered models and of their conserved quantities:
// every group leaves the output (and the loss) unchanged, its generator is the derivative of the
// action and is orthogonal to ∇L, B(θ, ∇L) = 0, the quantities follow their exact discrete dynamics
// under GD, weight decay and heavy-ball momentum, and are conserved along the adaptive flow.
#include <symflow/junction.hpp>

#include <array>
#include <cstddef>
#include <tuple>
#include <utility>

#include "support.hpp"

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::Dense;
using sf::Dynamic;
using sf::Index;
using sf::Input;
using sf::WithBias;

namespace {

// Every dense junction kind in one network: 1 rescale (α = 2), 3 linear (GL), 5 batch-norm scale,
// 8 layer-norm scale and translation, 11 softmax head translation.
using DenseNet = sf::Sequential<double, Input<4>, Dense<5, WithBias>, sf::Homogeneous, Dense<6, WithBias>, sf::Identity,
                                Dense<5, WithBias>, sf::BatchNorm, sf::Tanh, Dense<6>, sf::LayerNorm, sf::Tanh,
                                Dense<3, WithBias>>;
// Convolution junctions: 1 rescale conv → conv, 3 GL conv → conv, 5 batch-norm scale per channel,
// 8 rescale conv → dense (channel ↔ H·W columns), 10 softmax head.
using ConvNet = sf::Sequential<double, Input<2, 5, 5>, sf::Conv2d<3, 3, 1, 1>, sf::LeakyReLU,
                               sf::Conv2d<4, 3, 1, 1, sf::NoBias>, sf::Identity, sf::Conv2d<3, 3, 1, 1>, sf::BatchNorm,
                               sf::ReLU, sf::Conv2d<2, 3>, sf::LeakyReLU, Dense<4, WithBias>>;
using DynamicNet = sf::Sequential<double, Input<Dynamic>, Dense<Dynamic, WithBias>, sf::ReLU, Dense<Dynamic, WithBias>,
                                  sf::BatchNorm, sf::Identity, Dense<Dynamic>, sf::LayerNorm, Dense<3>>;

DenseNet dense_net() { return DenseNet(Dense<5, WithBias>{}, sf::Homogeneous{2.0}, Dense<6, WithBias>{}, sf::Identity{},
                                       Dense<5, WithBias>{}, sf::BatchNorm{}, sf::Tanh{}, Dense<6>{}, sf::LayerNorm{},
                                       sf::Tanh{}, Dense<3, WithBias>{}); }
ConvNet conv_net() { return ConvNet{}; }
DynamicNet dynamic_net() {
  return DynamicNet(sf::Shape{4}, Dense<Dynamic, WithBias>{6}, sf::ReLU{}, Dense<Dynamic, WithBias>{5}, sf::BatchNorm{},
                    sf::Identity{}, Dense<Dynamic>{4}, sf::LayerNorm{}, Dense<3>{});
}

template <class Net>
struct Problem {
  Eigen::MatrixXd x, y;
  sf::Objective<Net, sf::SoftmaxCrossEntropy> objective;
  typename Net::Params theta;
  Problem(const Net& net, std::mt19937_64& rng, Index k = 6)
      : x(sf::random_normal<Eigen::MatrixXd>(net.input_size(), k, rng)),
        y(sf::test::one_hot<Eigen::MatrixXd>(rng, net.output_size(), k)),
        objective(net, {}, x, y),
        theta(sf::random_params(net, rng, 0.6)) {}
};

/// Random algebra element with N(0, s²) coordinates.
template <class Action>
typename Action::Algebra random_element(const Action& a, std::mt19937_64& rng, double s) {
  const auto alg = a.algebra();
  return sf::random_normal<typename Action::Algebra>(alg.rows, alg.cols, rng, s);
}

/// The group leaves F (or, for the softmax head, the loss) unchanged; generators are derivatives of
/// the action and orthogonal to ∇L; the quantity's form vanishes on (θ, ∇L).
template <class Action, class Net>
void check_symmetry(const Net& net, int trials, bool output_invariant, double loss_tol = 1e-12) {
  const Action action(net);
  double worst_output = 0, worst_loss = 0, worst_generator = 0, worst_orthogonality = 0, worst_form = 0;
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    Problem<Net> problem(net, rng);
    const auto& theta = problem.theta;
    const auto g = action.exp(random_element(action, rng, 0.5));
    if (output_invariant) worst_output = std::max(worst_output, st::output_invariance_error(net, action, g, theta, problem.x));
    worst_loss = std::max(worst_loss, st::invariance_error(problem.objective, action, g, theta));
    worst_generator = std::max(worst_generator, st::generator_derivative_error(action, random_element(action, rng, 1.0), theta));
    worst_orthogonality = std::max(worst_orthogonality, st::max_gradient_orthogonality(problem.objective, action, theta));
    const typename Net::Params grad = problem.objective.gradient(theta);
    const typename Action::Quantity q(net);
    if constexpr (Action::Quantity::is_linear) {
      worst_form = std::max(worst_form, sf::test::magnitude(q.linear(grad)) / grad.norm());
    } else {
      // dQ/dt along −∇L is −(B(θ, ∇L) + B(∇L, θ)): the symmetric part vanishes (B need not be symmetric).
      worst_form = std::max(worst_form, sf::test::magnitude((q.form(theta, grad) + q.form(grad, theta)).eval()) /
                                            (theta.norm() * grad.norm()));
    }
    CHECK(st::identity_axiom_error(action, theta) == 0.0);
    CHECK(st::composition_axiom_error(action, g, action.exp(random_element(action, rng, 0.5)), theta) <= 1e-13);
    CHECK(st::inverse_axiom_error(action, g, theta) <= 1e-13);
  }
  INFO("output " << worst_output << ", loss " << worst_loss << ", generator " << worst_generator << ", <grad L, M theta> "
                 << worst_orthogonality << ", B(theta, grad L) " << worst_form);
  CHECK(worst_output <= 1e-12);
  CHECK(worst_loss <= loss_tol);
  CHECK(worst_generator <= 1e-8);
  CHECK(worst_orthogonality <= 1e-12);
  CHECK(worst_form <= 1e-13);
}

/// Runs torch-style SGD (momentum μ, weight decay λ) for `steps` steps and compares, for every quantity,
/// Q(θ_t) with the prediction of its QuantityDynamics at every step; returns the largest relative
/// error of each quantity. The trajectory does not depend on the quantity, so one run serves them all.
template <class... Quantities, class Net>
std::array<double, sizeof...(Quantities)> dynamics_errors(const Net& net, sf::HeavyBall opt, int steps, int seed) {
  auto rng = rng_for(seed);
  Problem<Net> problem(net, rng);
  auto theta = problem.theta;
  std::tuple<sf::QuantityDynamics<Quantities>...> predicted{sf::QuantityDynamics<Quantities>(Quantities(net), opt, theta)...};
  typename Net::Params velocity = net.zero_params(), grad = net.zero_params();
  std::array<double, sizeof...(Quantities)> worst{};
  for (int t = 0; t < steps; ++t) {
    problem.objective.value_and_gradient(theta, grad);
    opt.step(theta, velocity, grad);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((std::get<I>(predicted).advance(velocity),
        worst[I] = std::max(worst[I], st::relative_error(std::get<I>(predicted).predicted(),
                                                         std::get<I>(predicted).quantity().value(theta), 1e-300))),
       ...);
    }(std::index_sequence_for<Quantities...>{});
  }
  return worst;
}

template <class Quantity>
void check_quantity_dynamics(double gd, double wd, double momentum, double drift) {
  INFO(Quantity::name() << ": GD " << gd << ", weight decay " << wd << ", momentum + weight decay " << momentum
                        << "; Q moved by " << drift << " in 10 steps");
  CHECK(gd <= 1e-12);
  CHECK(wd <= 1e-12);
  CHECK(momentum <= 1e-12);
  CHECK(drift >= 1e-3);
}

/// Checks each quantity's predicted dynamics along the same runs (per seed: GD, weight decay, and
/// momentum with weight decay, 40 steps each).
template <class... Quantities, class Net>
void check_dynamics(const Net& net, int seeds = 10) {
  constexpr std::size_t n = sizeof...(Quantities);
  std::array<double, n> gd{}, wd{}, momentum{}, drift{};
  const auto keep_worst = [](std::array<double, n>& worst, const std::array<double, n>& errors) {
    for (std::size_t i = 0; i < n; ++i) worst[i] = std::max(worst[i], errors[i]);
  };
  for (int seed = 0; seed < seeds; ++seed) {
    keep_worst(gd, dynamics_errors<Quantities...>(net, {.learning_rate = 0.1}, 40, seed));
    keep_worst(wd, dynamics_errors<Quantities...>(net, {.learning_rate = 0.1, .weight_decay = 0.05}, 40, seed));
    keep_worst(momentum, dynamics_errors<Quantities...>(net, {.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 0.01}, 40, seed));
  }
  // The prediction is not trivially right: Q does move under these steps.
  {
    auto rng = rng_for(0);
    Problem<Net> problem(net, rng);
    auto theta = problem.theta;
    typename Net::Params v = net.zero_params(), grad = net.zero_params();
    const sf::HeavyBall opt{.learning_rate = 0.1, .weight_decay = 0.05};
    for (int t = 0; t < 10; ++t) {
      problem.objective.value_and_gradient(theta, grad);
      opt.step(theta, v, grad);
    }
    drift = {st::relative_error(Quantities(net).value(theta), Quantities(net).value(problem.theta))...};
  }
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (check_quantity_dynamics<Quantities>(gd[I], wd[I], momentum[I], drift[I]), ...);
  }(std::index_sequence_for<Quantities...>{});
}

}  // namespace

TEST_CASE("dense junctions: every group is a symmetry with the documented generator", "[junction][dense]") {
  const DenseNet net = dense_net();
  SECTION("rescale through a degree-2 homogeneous activation") { check_symmetry<sf::RescaleJunctionAction<DenseNet, 1>>(net, 100, true); }
  SECTION("GL through the identity") { check_symmetry<sf::LinearJunctionAction<DenseNet, 3>>(net, 100, true); }
  SECTION("scale per unit before batch norm") { check_symmetry<sf::ScaleJunctionAction<DenseNet, 5>>(net, 100, true); }
  SECTION("scale of the whole layer before layer norm") { check_symmetry<sf::ScaleJunctionAction<DenseNet, 8>>(net, 100, true); }
  SECTION("translation before layer norm") { check_symmetry<sf::TranslationAction<DenseNet, 8>>(net, 100, true); }
  SECTION("translation of the softmax head") { check_symmetry<sf::TranslationAction<DenseNet, 11>>(net, 100, false); }
}

TEST_CASE("convolution junctions act on channels", "[junction][conv]") {
  const ConvNet net = conv_net();
  SECTION("rescale conv -> leaky relu -> conv") { check_symmetry<sf::RescaleJunctionAction<ConvNet, 1>>(net, 30, true); }
  SECTION("GL conv -> identity -> conv") { check_symmetry<sf::LinearJunctionAction<ConvNet, 3>>(net, 30, true); }
  SECTION("scale per channel before batch norm") { check_symmetry<sf::ScaleJunctionAction<ConvNet, 5>>(net, 30, true); }
  SECTION("rescale conv -> leaky relu -> dense") { check_symmetry<sf::RescaleJunctionAction<ConvNet, 8>>(net, 30, true); }
  SECTION("translation of the softmax head") { check_symmetry<sf::TranslationAction<ConvNet, 10>>(net, 30, false); }
}

TEST_CASE("junctions of a model with Dynamic widths", "[junction][dynamic]") {
  const DynamicNet net = dynamic_net();
  check_symmetry<sf::RescaleJunctionAction<DynamicNet, 1>>(net, 30, true);
  check_symmetry<sf::ScaleJunctionAction<DynamicNet, 3>>(net, 30, true);
  check_symmetry<sf::TranslationAction<DynamicNet, 8>>(net, 30, false);
}

TEST_CASE("junction quantities follow their exact dynamics under GD, weight decay and momentum", "[junction][dynamics]") {
  const DenseNet net = dense_net();
  check_dynamics<sf::RescaleImbalance<DenseNet, 1>, sf::LinearImbalance<DenseNet, 3>, sf::NormalizedScale<DenseNet, 5>,
                 sf::NormalizedScale<DenseNet, 8>, sf::Translation<DenseNet, 8>, sf::Translation<DenseNet, 11>>(net);
  const ConvNet conv = conv_net();
  check_dynamics<sf::RescaleImbalance<ConvNet, 1>, sf::LinearImbalance<ConvNet, 3>, sf::NormalizedScale<ConvNet, 5>,
                 sf::RescaleImbalance<ConvNet, 8>>(conv, 3);
}

TEST_CASE("plain gradient descent: the closed forms", "[junction][dynamics]") {
  // ‖w_{t+1}‖² = ‖w_t‖² + η²‖∇_w L‖² for the scale-invariant group; the softmax head's column sums do not move;
  // under batch norm the bias gradient vanishes identically.
  const DenseNet net = dense_net();
  auto rng = rng_for(0);
  Problem<DenseNet> problem(net, rng);
  const sf::NormalizedScale<DenseNet, 8> scale(net);
  const sf::Translation<DenseNet, 11> head(net);
  const double eta = 0.3;
  auto theta = problem.theta;
  for (int t = 0; t < 20; ++t) {
    const DenseNet::Params g = problem.objective.gradient(theta);
    const double before = scale.value(theta)[0];
    const double gw = net.weight<8>(g).squaredNorm();
    CHECK(net.bias<5>(g).norm() <= 1e-15 * g.norm());
    const auto head_before = head.value(theta);
    theta -= eta * g;
    CHECK(st::relative_error(scale.value(theta)[0], before + eta * eta * gw) <= 1e-14);
    CHECK(st::relative_error(head.value(theta), head_before, 1e-300) <= 1e-14);
  }
}

TEST_CASE("junction quantities are conserved along the adaptive flow", "[junction][flow]") {
  const DenseNet net = dense_net();
  auto rng = rng_for(3);
  Problem<DenseNet> problem(net, rng);
  auto theta = problem.theta;
  const auto q1 = sf::RescaleImbalance<DenseNet, 1>(net);
  const auto q3 = sf::LinearImbalance<DenseNet, 3>(net);
  const auto q5 = sf::NormalizedScale<DenseNet, 5>(net);
  const auto q8 = sf::NormalizedScale<DenseNet, 8>(net);
  const auto t11 = sf::Translation<DenseNet, 11>(net);
  const auto v1 = q1.value(theta);
  const auto v3 = q3.value(theta);
  const auto v5 = q5.value(theta);
  const auto v8 = q8.value(theta);
  const auto v11 = t11.value(theta);
  const double loss0 = problem.objective.value(theta);
  const auto status = sf::run(sf::DormandPrince{.rtol = 1e-11, .atol = 1e-13}, problem.objective, theta,
                              sf::Stopping{.max_steps = 100000, .max_time = 5.0});
  INFO("loss " << loss0 << " -> " << status.loss << " in " << status.step << " steps");
  CHECK(static_cast<double>(status.loss) < loss0);
  const double scale = theta.squaredNorm();
  CHECK((q1.value(theta) - v1).norm() / scale <= 1e-9);
  CHECK((q3.value(theta) - v3).norm() / scale <= 1e-9);
  CHECK((q5.value(theta) - v5).norm() / scale <= 1e-9);
  CHECK((q8.value(theta) - v8).norm() / scale <= 1e-9);
  CHECK((t11.value(theta) - v11).norm() / theta.norm() <= 1e-9);
}

namespace {
/// A user's linear activation declared GL-equivariant: z ↦ 2z.
struct Doubling {
  using equivariance = sf::GeneralLinearEquivariant;
  template <class S> S value(const S& z) const { return S(2) * z; }
  template <class S> S derivative(const S&) const { return S(2); }
};
}  // namespace

TEST_CASE("conserved<I> deduces each junction's quantities from the layers", "[junction][conserved]") {
  const DenseNet net = dense_net();
  static_assert(std::is_same_v<decltype(sf::conserved<1>(net)), std::tuple<sf::RescaleImbalance<DenseNet, 1>>>);
  static_assert(std::is_same_v<decltype(sf::conserved<3>(net)), std::tuple<sf::LinearImbalance<DenseNet, 3>>>);
  static_assert(std::is_same_v<decltype(sf::conserved<5>(net)), std::tuple<sf::NormalizedScale<DenseNet, 5>>>);
  static_assert(std::is_same_v<decltype(sf::conserved<8>(net)),
                               std::tuple<sf::NormalizedScale<DenseNet, 8>, sf::Translation<DenseNet, 8>>>);
  static_assert(std::is_same_v<decltype(sf::conserved<11>(net, sf::SoftmaxCrossEntropy{})),
                               std::tuple<sf::Translation<DenseNet, 11>>>);
  static_assert(std::is_same_v<decltype(sf::conserved<3>(net, sf::SoftmaxCrossEntropy{})),
                               std::tuple<sf::LinearImbalance<DenseNet, 3>>>);
  // A user activation declared GL-equivariant gets the layer-imbalance matrix, and it is conserved.
  using UserNet = sf::Sequential<double, Input<3>, Dense<4>, Doubling, Dense<2>>;
  const UserNet user;
  static_assert(std::is_same_v<decltype(sf::conserved<1>(user)), std::tuple<sf::LinearImbalance<UserNet, 1>>>);
  check_symmetry<sf::LinearJunctionAction<UserNet, 1>>(user, 20, true);
  const auto [scale] = sf::conserved<5>(net);
  CHECK(scale.groups() == 5);
  CHECK(scale.epsilon() == 0.0);
}

TEST_CASE("junction dynamics in float and long double", "[junction][scalar]") {
  using Net = sf::Sequential<long double, Input<3>, Dense<4, WithBias>, sf::BatchNorm, sf::Tanh, Dense<3, WithBias>>;
  const Net net;
  auto rng = rng_for(0);
  const Eigen::Matrix<long double, 3, 5> x = sf::random_normal<Eigen::Matrix<long double, 3, 5>>(3, 5, rng);
  const Eigen::Matrix<long double, 3, 5> y = sf::test::one_hot<Eigen::Matrix<long double, 3, 5>>(rng, 3, 5);
  const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, x, y);
  auto theta = sf::random_params(net, rng);
  const sf::NormalizedScale<Net, 1> q(net);
  const sf::HeavyBall opt{.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01};
  sf::QuantityDynamics<sf::NormalizedScale<Net, 1>> predicted(q, opt, theta);
  Net::Params v = net.zero_params(), g = net.zero_params();
  for (int t = 0; t < 30; ++t) {
    objective.value_and_gradient(theta, g);
    opt.step(theta, v, g);
    predicted.advance(v);
  }
  CHECK(st::relative_error(predicted.predicted(), q.value(theta)) <= 1e-15);
}
