// Moving along the orbit during training: Q-restoring descent against the gradient-flow
// trajectory (Dormand–Prince at tight tolerance), and teleporting every k steps with GD, SGD,
// momentum and Adam inside symflow::run.
#include "support.hpp"

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

using Linear = sf::TwoLayer<double, sf::Identity, 3, 4, 2>;

struct Problem {
  Linear net;
  sf::Objective<Linear, sf::HalfSquaredError, 6> objective;
  Linear::Params theta;
};

Problem problem(int trial) {
  auto rng = rng_for(trial);
  const Linear net;
  // Small inputs and weights: the Hessian's top eigenvalue stays well below 2/η for η = 0.1.
  const auto x = sf::random_normal<Eigen::Matrix<double, 3, 6>>(3, 6, rng, 0.4);
  const auto y = sf::random_normal<Eigen::Matrix<double, 2, 6>>(2, 6, rng, 0.5);
  return {net, sf::Objective(net, sf::HalfSquaredError{}, x, y), sf::random_params(net, rng, 0.5)};
}

/// θ after time T of `method` (learning rate η covers time η per step).
template <class Method>
Linear::Params after(const Method& method, const Problem& p, double time) {
  Linear::Params theta = p.theta;
  const auto status = sf::run(method, p.objective, theta, sf::Stopping{.max_steps = 1000000, .max_time = time});
  INFO("stopped: " << sf::to_string(status.reason));
  REQUIRE(status.reason == sf::StopReason::time_budget);
  return theta;
}

}  // namespace

// The 3-4-2 network has Gram matrices of ranks 3 and 2 on its 4 hidden units: the restoration runs
// Newton's method, which needs only their sum to be positive definite.
TEST_CASE("Q-restoring descent keeps Q₀ exactly; against gradient flow it changes the constant, not the order",
          "[teleport][restoring]") {
  const double time = 1.0;
  for (int trial = 0; trial < 3; ++trial) {
    const Problem p = problem(trial);
    const auto action = sf::symmetry<1>(p.net);
    const Linear::Params flow = after(sf::DormandPrince{.rtol = 1e-13, .atol = 1e-15}, p, time);
    // Gradient flow conserves Q; check the reference does.
    const Eigen::Matrix4d q0 = sf::orbit_quantity(action, p.theta);
    REQUIRE((sf::orbit_quantity(action, flow) - q0).norm() <= 1e-11 * q0.norm());
    double plain_error[3], restored_error[3];
    const double rates[3] = {1e-1, 1e-2, 1e-3};
    for (int i = 0; i < 3; ++i) {
      const sf::GradientDescent gd{.learning_rate = rates[i]};
      plain_error[i] = (after(gd, p, time) - flow).norm();
      const Linear::Params restored = after(sf::Restoring{gd, action}, p, time);
      restored_error[i] = (restored - flow).norm();
      CHECK((sf::orbit_quantity(action, restored) - q0).norm() <= 1e-12 * (1 + q0.norm()));
    }
    // Orders from the two smaller rates (η = 0.1 is printed but may lie outside the asymptotic regime).
    for (int i = 0; i < 2; ++i) {
      const double plain_order = std::log10(plain_error[i] / plain_error[i + 1]);
      const double restored_order = std::log10(restored_error[i] / restored_error[i + 1]);
      INFO("trial " << trial << ", η " << rates[i] << " → " << rates[i + 1] << ": plain " << plain_error[i] << " → "
                    << plain_error[i + 1] << " (order " << plain_order << "), restored " << restored_error[i] << " → "
                    << restored_error[i + 1] << " (order " << restored_order << ")");
      WARN("trial " << trial << ", η " << rates[i] << " → " << rates[i + 1] << ": plain " << plain_error[i] << " → "
                    << plain_error[i + 1] << " (order " << plain_order << "), restored " << restored_error[i] << " → "
                    << restored_error[i + 1] << " (order " << restored_order << ")");
      if (i == 1) {
        CHECK(plain_order == Approx(1.0).margin(0.1));
        CHECK(restored_order == Approx(1.0).margin(0.1));
      }
    }
    // Only the constant changes: restored and plain errors stay within a fixed factor of each other.
    WARN("trial " << trial << ": error ratio restored/plain at η = 1e-3: " << restored_error[2] / plain_error[2]);
  }
}

TEST_CASE("Teleporting every k steps inside run: GD, SGD, momentum and Adam", "[teleport][schedule]") {
  const Problem p = problem(7);
  const auto action = sf::symmetry<1>(p.net);
  sf::OrbitSearchOptions options;
  options.max_iterations = 3;
  const auto steepest = [&](const Linear::Params& theta) { return sf::teleport_to_steepest(p.objective, action, theta, options); };
  auto check = [&](const auto& method, auto& objective) {
    Linear::Params theta = p.theta;
    sf::TeleportEvery teleporting{method, 4, steepest};
    auto state = teleporting.start(std::as_const(objective), theta);
    std::vector<double> losses;
    const auto status = sf::run(teleporting, state, objective, theta, sf::Stopping{.max_steps = 10},
                                [&](const sf::Snapshot<Linear::Params>& s) { losses.push_back(s.loss); });
    CHECK(status.reason == sf::StopReason::step_budget);
    REQUIRE(state.reports.size() == 3);  // before steps 0, 4 and 8
    for (const auto& r : state.reports) {
      CHECK(r.relative_loss_change() <= 1e-10);
      CHECK(r.objective_after >= r.objective_before);
    }
    CHECK(state.teleport_seconds >= 0.0);
    // Without teleports the wrapper is the method itself, bit for bit.
    Linear::Params a = p.theta, b = p.theta;
    sf::run(sf::TeleportEvery{method, 0, steepest, false}, objective, a, sf::Stopping{.max_steps = 5});
    sf::run(method, objective, b, sf::Stopping{.max_steps = 5});
    CHECK(a == b);
    return losses.size();
  };
  auto objective = p.objective;
  CHECK(check(sf::GradientDescent{.learning_rate = 1e-3}, objective) == 11);
  CHECK(check(sf::Momentum{.learning_rate = 1e-3, .momentum = 0.9}, objective) == 11);
  CHECK(check(sf::Adam{.learning_rate = 1e-3}, objective) == 11);
  auto rng = rng_for(8);
  sf::MiniBatchObjective batches(p.net, sf::HalfSquaredError{}, Eigen::Matrix<double, 3, sf::Dynamic>(p.objective.inputs()),
                                 Eigen::Matrix<double, 2, sf::Dynamic>(p.objective.targets()), 3, rng);
  Linear::Params theta = p.theta;
  sf::TeleportEvery sgd{sf::GradientDescent{.learning_rate = 1e-3}, 4, steepest};
  auto state = sgd.start(std::as_const(batches), theta);
  sf::run(sgd, state, batches, theta, sf::Stopping{.max_steps = 10});
  CHECK(state.reports.size() == 3);
}
