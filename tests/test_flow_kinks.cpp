// Specification of gradient flow across the kinks of a piecewise-linear network (LeakyReLU):
// Dormand–Prince ends a step exactly where a pre-activation crosses 0 (it never steps over a kink),
// meets its tolerance against a tight-tolerance reference with a step count of the order of the
// smooth network's, slides along a kink when both sides push into it (Filippov) instead of
// chattering, reports a stall with its location where it cannot go on, and validates its
// parameters with messages naming them.
#include "support.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace sf = symflow;
using sf::Index;
using sf::test::rng_for;

namespace {

using Net = sf::TwoLayer<double, sf::LeakyReLU, 4, 8, 2>;
using NetObjective = sf::Objective<Net, sf::MeanSquaredError, Eigen::Dynamic>;

/// Ordinary (not whitened) data: 40 Gaussian samples and targets, Gaussian weights.
struct Problem {
  NetObjective objective;
  Net::Params theta;
};
Problem leaky_problem(int trial, double slope) {
  auto rng = rng_for(trial);
  const Net net(sf::LeakyReLU{slope});
  const auto x = sf::random_normal<Eigen::Matrix<double, 4, Eigen::Dynamic>>(4, 40, rng);
  const auto y = sf::random_normal<Eigen::Matrix<double, 2, Eigen::Dynamic>>(2, 40, rng);
  return {NetObjective(net, {}, x, y), sf::random_params(net, rng, 0.5)};
}

Eigen::MatrixXd pre_activations(const NetObjective& o, const Net::Params& theta) {
  return o.model().weight<1>(theta) * o.inputs();
}
/// The rounding scale of each pre-activation, ε (|W₁||X|)_kj.
Eigen::MatrixXd rounding_scale(const NetObjective& o, const Net::Params& theta) {
  return std::numeric_limits<double>::epsilon() * (o.model().weight<1>(theta).cwiseAbs() * o.inputs().cwiseAbs());
}

}  // namespace

TEST_CASE("Dormand–Prince ends a step exactly where a pre-activation crosses 0", "[flow][kinks]") {
  // Between two consecutive points of the run no pre-activation changes sign unless it is 0 to
  // rounding at one of them: every crossing is a restart point (or a slide along the kink).
  Index crossings = 0;
  double worst = 0;  // |z| / (ε(|W||X|)) at the crossings
  for (int trial = 0; trial < 4; ++trial) {
    const Problem problem = leaky_problem(trial, 0.01);
    const NetObjective& objective = problem.objective;
    Net::Params theta = problem.theta;
    Eigen::MatrixXd previous = pre_activations(objective, theta), previous_scale = rounding_scale(objective, theta);
    const auto observer = [&](const sf::Snapshot<Net::Params>& s) {
      const Eigen::MatrixXd z = pre_activations(objective, s.theta), scale = rounding_scale(objective, s.theta);
      for (Index j = 0; j < z.cols(); ++j)
        for (Index k = 0; k < z.rows(); ++k)
          if ((z(k, j) < 0) != (previous(k, j) < 0)) {
            ++crossings;
            worst = std::max(worst, std::min(std::abs(z(k, j)) / scale(k, j),
                                             std::abs(previous(k, j)) / previous_scale(k, j)));
          }
      previous = z;
      previous_scale = scale;
    };
    const auto status = sf::run(sf::DormandPrince{.rtol = 1e-8, .atol = 1e-8}, objective, theta,
                                sf::Stopping{.max_steps = 20000, .max_time = 5.0}, observer);
    INFO(status.message());
    REQUIRE(status.reason == sf::StopReason::time_budget);
  }
  INFO("sign changes between consecutive points: " << crossings << ", largest |z| there: " << worst << " ε(|W||X|)");
  REQUIRE(crossings > 20);
  CHECK(worst <= 1e3);
}

TEST_CASE("Dormand–Prince at kinks: reference accuracy and step counts against the smooth network", "[flow][kinks]") {
  // Same data and start with slope 0.01 (kinks) and slope 1 (LeakyReLU{1} is the identity: a smooth
  // network), rtol = atol = 1e-10 to t = 5, against a run at 1e-13; and the same run without kink
  // location, which rejects and shrinks its steps at every kink.
  for (int trial = 0; trial < 2; ++trial) {
    Index steps[2]{};
    double errors[2]{};
    for (int smooth = 0; smooth < 2; ++smooth) {
      const Problem problem = leaky_problem(trial, smooth ? 1.0 : 0.01);
      const NetObjective& objective = problem.objective;
      const Net::Params& theta0 = problem.theta;
      const sf::Stopping stop{.max_steps = 100000, .max_time = 5.0};
      Net::Params reference = theta0, theta = theta0;
      REQUIRE(sf::run(sf::DormandPrince{.rtol = 1e-13, .atol = 1e-13}, objective, reference, stop).reason ==
              sf::StopReason::time_budget);
      const auto status = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10}, objective, theta, stop);
      REQUIRE(status.reason == sf::StopReason::time_budget);
      steps[smooth] = status.accepted_steps();
      errors[smooth] = (theta - reference).norm() / reference.norm();
      if (!smooth) {
        Net::Params plain = theta0;
        const auto crawl = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10, .locate_kinks = false}, objective,
                                   plain, sf::Stopping{.max_steps = 10 * status.accepted_steps(), .max_time = 5.0});
        INFO("without kink location: " << crawl.message() << ", " << crawl.rejected_steps << " rejected");
        CHECK(crawl.reason == sf::StopReason::step_budget);
      }
    }
    INFO("trial " << trial << ": kinked " << steps[0] << " steps, relative error " << errors[0] << "; smooth "
                  << steps[1] << " steps, relative error " << errors[1]);
    CHECK(steps[0] <= 5 * steps[1]);
    CHECK(errors[0] <= 1e-8);
    CHECK(errors[1] <= 1e-8);
  }
}

TEST_CASE("Dormand–Prince slides along a kink that both sides push into", "[flow][kinks]") {
  // One input, two samples x = (1, −1), targets (−1, −1), F = u σ(w x) with slope s = 0.1 and the
  // mean squared error. For w > 0, L = ½[(uw + 1)² + (1 − suw)²] falls as w falls; for w < 0 it
  // falls as w rises: at w = 0 both sides push into the kink, and since σ(0) = 0 on both sides,
  // ∂L/∂u = 0 there. The Filippov solution reaches w = 0 and stays, with u fixed.
  using Tiny = sf::Mlp<double, sf::LeakyReLU, 1, 1, 1>;
  const Tiny net(sf::LeakyReLU{0.1});
  const Eigen::Matrix<double, 1, 2> x{1.0, -1.0}, y{-1.0, -1.0};
  const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
  Tiny::Params theta{0.5, 1.0};
  double u_at_kink = 0;
  const auto status = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10}, objective, theta,
                              sf::Stopping{.max_steps = 1000, .max_time = 5.0},
                              [&](const sf::Snapshot<Tiny::Params>& s) {
                                if (u_at_kink == 0 && std::abs(s.theta[0]) < 1e-14) u_at_kink = s.theta[1];
                              });
  INFO(status.message() << ", θ = " << theta.transpose());
  REQUIRE(status.reason == sf::StopReason::time_budget);
  CHECK(status.accepted_steps() < 100);
  CHECK(std::abs(theta[0]) <= 1e-14);
  CHECK(u_at_kink != 0);
  CHECK(theta[1] == u_at_kink);

  // Without kink location the steps chatter across w = 0.
  Tiny::Params plain{0.5, 1.0};
  const auto crawl = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10, .locate_kinks = false}, objective, plain,
                             sf::Stopping{.max_steps = 10000, .max_time = 5.0});
  INFO(crawl.message());
  CHECK(crawl.reason == sf::StopReason::step_budget);
}

TEST_CASE("Dormand–Prince reports a stall with the kink where it stalls", "[flow][kinks]") {
  // The same kink one layer deeper: x = (1, −1), W₁ = 1 keeps a₁ = (1, −s); the second layer's
  // pre-activations w₂a₁ meet 0 together at w₂ = 0, a surface the integrator does not slide on
  // (its normal depends on θ): it stops there and says so.
  using Chain = sf::Mlp<double, sf::LeakyReLU, 1, 1, 1, 1>;
  const Chain net(sf::LeakyReLU{0.1});
  const Eigen::Matrix<double, 1, 2> x{1.0, -1.0}, y{-1.0, -2.0};
  const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
  Chain::Params theta{1.0, 0.5, 1.0};
  const auto status = sf::run(sf::DormandPrince{.rtol = 1e-10, .atol = 1e-10}, objective, theta,
                              sf::Stopping{.max_steps = 1000, .max_time = 5.0});
  INFO(status.message());
  REQUIRE(status.reason == sf::StopReason::stalled);
  CHECK(status.where.layer == 2);
  CHECK(status.where.unit == 0);
  CHECK(status.value > status.time);
  CHECK(status.value < 5.0);
  CHECK(status.message().find("hidden layer 2, unit 0, sample") != std::string::npos);
  CHECK(status.accepted_steps() < 100);
}

TEST_CASE("DormandPrince validates its parameters, naming them", "[flow][kinks][validation]") {
  const Problem problem = leaky_problem(0, 0.01);
  const NetObjective& objective = problem.objective;
  const Net::Params& theta = problem.theta;
  const auto start = [&](const sf::DormandPrince& method) { (void)method.start(objective, theta); };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_NOTHROW(start(sf::DormandPrince{}));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.rtol = -1}), Catch::Contains("rtol is -1, expected a finite number > 0"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.rtol = 0}), Catch::Contains("rtol is 0"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.rtol = inf}), Catch::Contains("rtol is inf"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.atol = 0}), Catch::Contains("atol is 0, expected a finite number > 0"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.atol = nan}), Catch::Contains("atol is nan"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.initial_step = -0.5}), Catch::Contains("initial_step is -0.5"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.max_step = 0}), Catch::Contains("max_step is 0"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.max_step = nan}), Catch::Contains("max_step is nan"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.safety = 1.5}), Catch::Contains("safety is 1.5, expected in (0, 1]"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.min_factor = 0}), Catch::Contains("min_factor is 0"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.max_factor = 0.5}), Catch::Contains("max_factor is 0.5"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.beta = 0.25}), Catch::Contains("beta is 0.25, expected in [0, 0.2]"));
  CHECK_THROWS_WITH(start(sf::DormandPrince{.max_rejections = 0}), Catch::Contains("max_rejections is 0"));
  // run() starts the method, so it refuses too, before any step.
  Net::Params p = theta;
  CHECK_THROWS_WITH(sf::run(sf::DormandPrince{.rtol = -1e-6}, objective, p, sf::Stopping{}),
                    Catch::Contains("symflow::DormandPrince: rtol is -9.9999999999999995e-07"));
}
