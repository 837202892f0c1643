// Teleporting over the junction symmetries of layered (Sequential) models: the orbit searches use
// only the action's interface, so a rescale junction through a LeakyReLU and a GL junction through
// the identity are searched like the MLP actions, with the loss and the outputs kept.
#include <symflow/junction.hpp>
#include <symflow/teleport.hpp>

#include "support.hpp"

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

// Layer 1 (LeakyReLU): rescale junction of Dense 0 → Dense 2; layer 3 (identity): GL junction.
using Net = sf::Sequential<double, sf::Input<4>, sf::Dense<5, sf::WithBias>, sf::LeakyReLU, sf::Dense<6, sf::WithBias>,
                           sf::Identity, sf::Dense<3, sf::WithBias>>;

}  // namespace

TEST_CASE("The steepest point over a junction: ‖∇L‖² grows, loss and outputs stay, θ' = g·θ", "[teleport][junction]") {
  const Net net;
  double worst = 0;
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const Net::Params theta = sf::random_params(net, rng, 0.7);
    const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(4, 8, rng), y = sf::random_normal<Eigen::MatrixXd>(3, 8, rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const auto check = [&](const auto& action) {
      const auto r = sf::teleport_to_steepest(objective, action, theta, {.max_iterations = 5});
      INFO(r.report.reason);
      CHECK(r.report.iterations > 0);
      CHECK(r.report.objective_after > r.report.objective_before);
      CHECK(st::relative_error(r.theta, action.act(r.g, theta)) <= 1e-12);
      worst = std::max({worst, r.report.relative_loss_change(), st::relative_error(net.forward(r.theta, x), net.forward(theta, x))});
    };
    check(sf::RescaleJunctionAction<Net, 1>(net));
    check(sf::LinearJunctionAction<Net, 3>(net));
  }
  INFO("worst relative change of loss or outputs " << worst);
  CHECK(worst <= 1e-12);
}

TEST_CASE("The gradient of ‖∇L‖² over a junction's algebra matches central differences", "[teleport][junction]") {
  const Net net;
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng, 0.7);
  const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(4, 8, rng), y = sf::random_normal<Eigen::MatrixXd>(3, 8, rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const Net::Params w = 2.0 * objective.hessian_vector_product(theta, objective.gradient(theta));
  const auto f = [&](const Net::Params& p) { return objective.gradient(p).squaredNorm(); };
  const double h = 1e-5, rounding = 100 * std::numeric_limits<double>::epsilon() * f(theta) / h;
  const auto check = [&](const auto& action) {
    const Eigen::VectorXd c = sf::algebra_gradient(action, theta, w);
    for (sf::Index j = 0; j < action.algebra().dimension(); ++j) {
      const auto b = action.algebra().basis(j);
      const double fd = (f(action.act(action.exp(h * b), theta)) - f(action.act(action.exp(-h * b), theta))) / (2 * h);
      CHECK(std::abs(fd - c[j]) <= 1e-7 * (1 + c.norm()) + rounding);
    }
    // Coordinates and elements correspond one to one.
    const auto m = action.algebra().from_coordinates(c);
    CHECK(action.algebra().coordinates(m) == c);
  };
  check(sf::RescaleJunctionAction<Net, 1>(net));
  check(sf::LinearJunctionAction<Net, 3>(net));
}
