// Specification of how symflow refuses input it cannot give a right answer for: run-time matrices
// of the wrong shape for a fixed-size model (refused before they are converted), a width list of
// the wrong length, a non-finite point for the orbit dimension, and integrator and stopping
// parameters out of range. Every refusal is a std::invalid_argument whose message names the
// argument and its value or shape.
#include "support.hpp"

#include <limits>
#include <string>

#include <symflow/analysis.hpp>
#include <symflow/conserved.hpp>
#include <symflow/flow.hpp>
#include <symflow/group.hpp>

namespace sf = symflow;
using sf::test::rng_for;
using Catch::Matchers::Contains;

namespace {

using Net = sf::TwoLayer<double, sf::Identity, 4, 6, 3>;
using Loss = sf::HalfSquaredError;

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

TEST_CASE("a fixed-size model refuses a run-time input of the wrong shape before converting it", "[validation][shape]") {
  auto rng = rng_for(0);
  const Net net;
  const Eigen::MatrixXd x_bad = sf::test::normal<Eigen::MatrixXd>(rng, 5, 10);
  const Eigen::MatrixXd x = sf::test::normal<Eigen::MatrixXd>(rng, 4, 10);
  const Eigen::MatrixXd y = sf::test::normal<Eigen::MatrixXd>(rng, 3, 10);
  const Eigen::MatrixXd y_bad = sf::test::normal<Eigen::MatrixXd>(rng, 2, 10);
  const Eigen::MatrixXd y_short = sf::test::normal<Eigen::MatrixXd>(rng, 3, 9);

  // The case of the report: 5 × 10 given for n_0 = 4 (without the check, a 4 × 10 corner was kept).
  CHECK_THAT(message_of([&] { sf::Objective obj(net, Loss{}, x_bad, y); }),
             Contains("input X has shape 5x10") && Contains("expected 4 rows"));
  CHECK_THAT(message_of([&] { sf::Objective obj(net, Loss{}, x, y_bad); }), Contains("target Y has shape 2x10"));
  CHECK_THAT(message_of([&] { sf::Objective obj(net, Loss{}, x, y_short); }), Contains("target Y has shape 3x9"));
  // Explicit sample count K = 12: a 10-column X is refused, not truncated or padded.
  CHECK_THAT(message_of([&] { sf::Objective<Net, Loss, 12> obj(net, Loss{}, x, y); }),
             Contains("input X has shape 4x10") && Contains("expected 12 columns"));
  CHECK_THAT(message_of([&] {
               sf::MiniBatchObjective<Net, Loss> batches(net, Loss{}, x_bad, y, 5, std::mt19937_64(1));
             }),
             Contains("input X has shape 5x10"));
  CHECK_THAT(message_of([&] {
               sf::MiniBatchObjective<Net, Loss> batches(net, Loss{}, x, y_bad, 5, std::mt19937_64(1));
             }),
             Contains("targets Y has shape 2x10"));

  // A run-time-sized X of the right shape gives what the fixed-size one gives (to rounding: the
  // products are blocked differently).
  const sf::Objective dynamic(net, Loss{}, x, y);
  const Eigen::Matrix<double, 4, 10> x_fixed = x;
  const Eigen::Matrix<double, 3, 10> y_fixed = y;
  const sf::Objective fixed(net, Loss{}, x_fixed, y_fixed);
  const Net::Params theta = sf::random_params(net, rng);
  CHECK(sf::testing::relative_error(dynamic.value(theta), fixed.value(theta)) <= 1e-15);
  CHECK(sf::testing::relative_error(dynamic.gradient(theta), fixed.gradient(theta)) <= 1e-15);

  // θ and v as Eigen::VectorXd: checked before they become Net::Params (42 entries).
  const Eigen::VectorXd theta_long = Eigen::VectorXd::Ones(30), theta_ok = theta;
  CHECK_THAT(message_of([&] { (void)fixed.value(theta_long); }), Contains("parameter vector θ has shape 30x1") && Contains("expected 42x1"));
  CHECK_THAT(message_of([&] { (void)fixed.gradient(theta_long); }), Contains("30x1"));
  CHECK_THAT(message_of([&] { (void)fixed.hessian_vector_product(theta_ok, theta_long); }), Contains("direction v has shape 30x1"));
  CHECK(fixed.value(theta_ok) == fixed.value(theta));
  CHECK(fixed.hessian_vector_product(theta_ok, theta_ok) == fixed.hessian_vector_product(theta, theta));

  // Drift functions and charges convert gradients and points the same way.
  const sf::LayerImbalanceTrace<Net> trace(net);
  CHECK_THAT(message_of([&] { (void)sf::gd_step_change(trace, theta_long, 0.1); }), Contains("gradient has shape 30x1"));
  CHECK_THAT(message_of([&] { (void)sf::outgoing_minus_incoming_trace_gd_change(net, theta_long, 0.1); }),
             Contains("gradient has shape 30x1"));
  CHECK_THAT(message_of([&] { (void)sf::momentum_charge(trace, theta_long, theta_long); }), Contains("θ has shape 30x1"));
  CHECK_THAT(message_of([&] { (void)sf::directional_derivative(trace, theta_long, theta_long); }),
             Contains("θ has shape 30x1"));
  const auto gl = sf::symmetry<1>(net);
  const Eigen::Matrix<double, 6, 6> m = Eigen::Matrix<double, 6, 6>::Identity();
  CHECK_THAT(message_of([&] { (void)sf::lie_quantity(gl, m).through_generator(theta_long); }), Contains("θ has shape 30x1"));
  CHECK_THAT(message_of([&] { (void)sf::with_layer_imbalance_trace<1>(net, theta_long, 1.0); }), Contains("θ has shape 30x1"));
}

TEST_CASE("a model given fewer or more run-time widths than its type has says both counts", "[validation][widths]") {
  using Deep = sf::Mlp<double, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  CHECK_THAT(message_of([] { Deep net({10, 50, 5}); }),
             Contains("3 widths given, but the model type has 4 (n_0, …, n_3"));
  CHECK_THAT(message_of([] { Deep net({10, 50, 5, 4, 2}); }), Contains("5 widths given, but the model type has 4"));
  CHECK_THAT(message_of([] { Deep net({10, 0, 5, 2}); }), Contains("width 1 is 0"));
  const Deep net({10, 50, 5, 2});
  CHECK(net.size() == 10 * 50 + 50 * 5 + 5 * 2);
}

TEST_CASE("the orbit dimension refuses a non-finite point", "[validation][orbit]") {
  using Tiny = sf::TwoLayer<double, sf::ReLU, 3, 4, 2>;
  const Tiny net;
  const sf::ScalingAction<Tiny> action(net);
  auto rng = rng_for(1);
  Tiny::Params theta = sf::random_params(net, rng);
  REQUIRE(sf::orbit_dimension(action, theta).dimension == 4);
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    theta[7] = bad;
    CHECK_THAT(message_of([&] { (void)sf::orbit_dimension(action, theta); }), Contains("θ entry 7 is"));
  }
}

TEST_CASE("integrators and stopping rules refuse parameters out of range, naming them", "[validation][flow]") {
  using Lin = sf::TwoLayer<double, sf::Identity, 3, 4, 2>;
  const Lin net;
  auto rng = rng_for(2);
  const sf::Objective objective(net, Loss{}, sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng),
                                sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng));
  Lin::Params theta = sf::random_params(net, rng);
  const Lin::Params start = theta;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto refused = [&](const auto& method, const sf::Stopping& stop = {}) {
    const std::string m = message_of([&] { sf::run(method, objective, theta, stop); });
    CHECK(theta == start);  // nothing moved
    return m;
  };
  CHECK_THAT(refused(sf::GradientDescent{-0.1}), Contains("GradientDescent: learning_rate is -0.1"));
  CHECK_THAT(refused(sf::GradientDescent{0.0}), Contains("learning_rate is 0"));
  CHECK_THAT(refused(sf::GradientDescent{nan}), Contains("learning_rate is nan"));
  CHECK_THAT(refused(sf::Momentum{.learning_rate = 0.01, .momentum = 1.0}), Contains("Momentum: momentum is 1, expected a number in [0, 1)"));
  CHECK_THAT(refused(sf::Momentum{.learning_rate = 0.01, .momentum = -0.5}), Contains("momentum is -0.5"));
  CHECK_THAT(refused(sf::Momentum{.learning_rate = -1.0}), Contains("Momentum: learning_rate is -1"));
  CHECK_THAT(refused(sf::Adam{.learning_rate = -1e-3}), Contains("Adam: learning_rate"));
  CHECK_THAT(refused(sf::Adam{.beta1 = 1.0}), Contains("Adam: beta1 is 1"));
  CHECK_THAT(refused(sf::Adam{.beta2 = -0.1}), Contains("Adam: beta2 is -0.1"));
  CHECK_THAT(refused(sf::Adam{.epsilon = -1e-8}), Contains("Adam: epsilon"));
  CHECK_THAT(refused(sf::Adam{.weight_decay = -1.0}), Contains("Adam: weight_decay"));
  CHECK_THAT(refused(sf::RungeKutta4{0.0}), Contains("RungeKutta4: step_size is 0"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.max_steps = -1}), Contains("Stopping: max_steps is -1"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.max_time = nan}), Contains("Stopping: max_time is nan"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.max_seconds = -1}), Contains("max_seconds is -1"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.loss_tolerance = nan}), Contains("loss_tolerance is nan"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.gradient_tolerance = nan}), Contains("gradient_tolerance"));
  CHECK_THAT(refused(sf::GradientDescent{0.1}, sf::Stopping{.blow_up_factor = -2}), Contains("blow_up_factor is -2"));
  // The hand-written loop's one-step functions check too.
  CHECK_THAT(message_of([&] { sf::gd_step(objective, theta, -0.1); }), Contains("learning_rate is -0.1"));
  CHECK_THAT(message_of([&] { sf::rk4_flow_step(objective, theta, -0.1); }), Contains("step_size is -0.1"));
  CHECK(theta == start);

  // Valid edge values run; the default step budget names itself when it ends a run.
  const auto status = sf::run(sf::GradientDescent{1e-3}, objective, theta, sf::Stopping{});
  CHECK(status.reason == sf::StopReason::step_budget);
  CHECK(status.step == 1000);
  CHECK_THAT(status.message(), Contains("step budget max_steps = 1000 used up"));
  CHECK_NOTHROW(sf::run(sf::Momentum{.learning_rate = 1e-3, .momentum = 0.0}, objective, theta, sf::Stopping{.max_steps = 0}));
  CHECK_NOTHROW(sf::run(sf::GradientDescent{1e-3}, objective, theta, sf::Stopping{.max_steps = 3, .blow_up_factor = 0}));
}
