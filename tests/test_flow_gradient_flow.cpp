// Specification of the gradient-flow integrators, θ̇ = −∇L(θ): RK4 multiplies each mode of a
// quadratic by its stability polynomial and is fourth order on a network; Dormand–Prince 5(4) meets
// its tolerance against reference solutions, its error scales with the tolerance, it lands on the
// final time, counts accepted and rejected steps, and stops instead of spinning on NaN.
#include "flow_support.hpp"

#include <cmath>
#include <limits>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::Index;
using sf::test::Quadratic;
using sf::test::random_quadratic;
using sf::test::rng_for;

namespace {

using V6 = Eigen::Matrix<double, 6, 1>;
using TanhNet = sf::TwoLayer<double, sf::Tanh, 3, 6, 2>;
using TanhObjective = sf::Objective<TanhNet, sf::MeanSquaredError, 5>;

/// A small smooth network problem: tanh, 5 samples, mean squared error (Hessian eigenvalues of
/// magnitude up to about 15 at the start).
std::pair<TanhObjective, TanhNet::Params> tanh_problem(int trial) {
  auto rng = rng_for(trial);
  const TanhNet net;
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
  return {TanhObjective(net, {}, x, y), sf::random_params(net, rng, 0.8)};
}

/// θ(T) of the flow on a quadratic: θ* + Q e^{−ΛT} Qᵀ (θ_0 − θ*).
V6 exact_quadratic_flow(const Quadratic<6>& quad, const Eigen::Matrix<double, 6, 6>& q, const V6& lambda,
                        const V6& theta0, double time) {
  const V6 star = quad.minimiser();
  const V6 decay = (-time * lambda.array()).exp().matrix();
  return star + q * decay.asDiagonal() * q.transpose() * (theta0 - star);
}

/// A wider network (32 hidden units for 5 samples): better conditioned, its loss falls 100-fold
/// by t ≈ 1 typically and by t = 10 for nearly every draw.
using WideNet = sf::TwoLayer<double, sf::Tanh, 3, 32, 2>;
using WideObjective = sf::Objective<WideNet, sf::MeanSquaredError, 5>;
std::pair<WideObjective, WideNet::Params> wide_problem(int trial) {
  auto rng = rng_for(trial);
  const WideNet net;
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 5>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 5>>(rng);
  return {WideObjective(net, {}, x, y), sf::random_params(net, rng, 1.0)};
}

/// The flow of a network problem to time T by RK4 with n steps.
template <class O, class Params>
Params rk4_solution(const O& objective, Params theta, double time, Index n) {
  sf::run(sf::RungeKutta4{time / static_cast<double>(n)}, objective, theta, sf::Stopping{.max_steps = n + 1, .max_time = time});
  return theta;
}

/// A reference solution: RK4 with n and 2n steps, Richardson-extrapolated, (16 θ_{2n} − θ_n)/15,
/// which cancels the h⁴ term of the error.
template <class O, class Params>
Params extrapolated_rk4_solution(const O& objective, const Params& theta0, double time, Index n) {
  return (16.0 * rk4_solution(objective, theta0, time, 2 * n) - rk4_solution(objective, theta0, time, n)) / 15.0;
}

}  // namespace

TEST_CASE("RK4 multiplies each mode of a quadratic by R(hλ) = 1 − z + z²/2 − z³/6 + z⁴/24 per step", "[flow][rk4]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    Eigen::Matrix<double, 6, 6> q;
    V6 lambda;
    const auto quad = random_quadratic<6>(rng, 0.5, 4.0, &q, &lambda);
    const V6 theta0 = sf::test::normal<V6>(rng);
    const V6 star = quad.minimiser();
    const double h = 0.3;
    const V6 z = h * lambda;
    const V6 r = (1 - z.array() + z.array().square() / 2 - z.array().cube() / 6 + z.array().pow(4) / 24).matrix();
    V6 theta = theta0;
    sf::run(sf::RungeKutta4{h}, quad, theta, sf::Stopping{.max_steps = 30}, [&](const sf::Snapshot<V6>& s) {
      const V6 modes = r.array().pow(static_cast<double>(s.step)).matrix();
      const V6 expected = star + q * modes.asDiagonal() * q.transpose() * (theta0 - star);
      CHECK(st::relative_error(s.theta, expected, 1.0) <= 1e-13);
    });
    // rk4_flow_step is the same step.
    V6 one = theta0;
    sf::rk4_flow_step(quad, one, h);
    CHECK(st::relative_error(one, (star + q * r.asDiagonal() * q.transpose() * (theta0 - star)).eval()) <= 1e-14);
  }
}

TEST_CASE("RK4 is fourth order: halving h divides the error at a fixed time by 16", "[flow][rk4]") {
  // The asymptotic regime is h·ρ ≪ 1, ρ the largest |eigenvalue| of the Hessian: take h·ρ(θ_0) =
  // 0.1, 0.05 and 0.025 (the local error's next term is smaller by about hρ/6).
  const double time = 1.0;
  for (int trial = 0; trial < 4; ++trial) {
    const auto [objective, theta0] = tanh_problem(trial);
    const double rho = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(objective.hessian(theta0))
                           .eigenvalues()
                           .cwiseAbs()
                           .maxCoeff();
    const auto n = static_cast<Index>(std::ceil(time * rho / 0.1));
    const TanhNet::Params reference = rk4_solution(objective, theta0, time, 32 * n);
    std::vector<double> errors;
    for (const Index k : {1, 2, 4}) errors.push_back((rk4_solution(objective, theta0, time, k * n) - reference).norm() / reference.norm());
    for (std::size_t k = 1; k < errors.size(); ++k) {
      INFO("trial " << trial << ": rho " << rho << ", errors " << errors[k - 1] << " -> " << errors[k]);
      CHECK(errors[k - 1] / errors[k] == Approx(16.0).epsilon(0.1));
    }
  }
}

TEST_CASE("RK4 shortens its last step to land exactly on the time budget", "[flow][rk4]") {
  const auto [objective, theta0] = tanh_problem(0);
  TanhNet::Params theta = theta0;
  std::vector<double> step_sizes;
  const auto status = sf::run(sf::RungeKutta4{0.1}, objective, theta, sf::Stopping{.max_time = 1.05},
                              [&](const sf::Snapshot<TanhNet::Params>& s) { step_sizes.push_back(s.step_size); });
  CHECK(status.reason == sf::StopReason::time_budget);
  CHECK(status.time == 1.05);
  CHECK(status.step == 11);
  CHECK(step_sizes.back() == Approx(0.05).epsilon(1e-12));
  CHECK(status.evaluations == 1 + 4 * 11);
  // 0.1 × 10 in floating point lands on 1 without an eleventh sliver of a step.
  TanhNet::Params again = theta0;
  const auto exact = sf::run(sf::RungeKutta4{0.1}, objective, again, sf::Stopping{.max_time = 1.0});
  CHECK(exact.step == 10);
  CHECK(exact.time == 1.0);
}

TEST_CASE("Dormand–Prince meets its tolerance on a quadratic, and its error scales with the tolerance",
          "[flow][dopri]") {
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    Eigen::Matrix<double, 6, 6> q;
    V6 lambda;
    const auto quad = random_quadratic<6>(rng, 0.1, 5.0, &q, &lambda);
    const V6 theta0 = sf::test::normal<V6>(rng);
    const double time = 3.0;
    const V6 exact = exact_quadratic_flow(quad, q, lambda, theta0, time);
    std::vector<double> errors;
    for (const double tol : {1e-5, 1e-7, 1e-9, 1e-11, 1e-13}) {
      V6 theta = theta0;
      const auto status = sf::run(sf::DormandPrince{.rtol = tol, .atol = tol}, quad, theta,
                                  sf::Stopping{.max_steps = 100000, .max_time = time});
      REQUIRE(status.reason == sf::StopReason::time_budget);
      CHECK(status.time == time);
      const double error = (theta - exact).norm() / exact.norm();
      errors.push_back(error);
      INFO("trial " << trial << ", tol " << tol << ": error " << error << ", steps " << status.step);
      CHECK(error <= 10 * tol);
    }
    for (std::size_t k = 1; k < errors.size(); ++k) {
      INFO("trial " << trial << ": errors " << errors[k - 1] << " -> " << errors[k]);
      CHECK(errors[k - 1] / errors[k] >= 10.0);  // tolerance ÷100 (measured over 60 seeds: ÷19 to ÷106)
    }
  }
}

TEST_CASE("Dormand–Prince meets its tolerance on a network", "[flow][dopri]") {
  const double time = 2.0;
  for (int trial = 0; trial < 3; ++trial) {
    const auto [objective, theta0] = tanh_problem(trial);
    const TanhNet::Params reference = extrapolated_rk4_solution(objective, theta0, time, 2000);
    std::vector<double> errors;
    for (const double tol : {1e-6, 1e-8, 1e-10}) {
      TanhNet::Params theta = theta0;
      const auto status = sf::run(sf::DormandPrince{.rtol = tol, .atol = tol}, objective, theta,
                                  sf::Stopping{.max_steps = 100000, .max_time = time});
      REQUIRE(status.reason == sf::StopReason::time_budget);
      const double error = (theta - reference).norm() / reference.norm();
      errors.push_back(error);
      INFO("trial " << trial << ", tol " << tol << ": error " << error << ", accepted " << status.step << ", rejected "
                    << status.rejected_steps);
      CHECK(error <= 10 * tol);
      CHECK(status.step <= 2000);
    }
    for (std::size_t k = 1; k < errors.size(); ++k) {
      CHECK(errors[k - 1] / errors[k] >= 10.0);  // tolerance ÷100 (measured over 60 seeds: ÷33 to ÷243)
    }
  }
}

TEST_CASE("Dormand–Prince at rtol = atol = 1e-12 follows a run in which the loss falls 100-fold", "[flow][dopri]") {
  // The first of ten random problems whose loss falls 100-fold by t = 10 (nearly all do).
  for (int trial = 0; trial < 10; ++trial) {
    const auto [objective, theta0] = wide_problem(trial);
    WideNet::Params theta = theta0;
    const double initial = objective.value(theta0);
    const auto status = sf::run(sf::DormandPrince{.rtol = 1e-12, .atol = 1e-12}, objective, theta,
                                sf::Stopping{.max_steps = 100000, .max_time = 10.0, .loss_tolerance = initial / 100});
    if (status.reason == sf::StopReason::time_budget) continue;
    INFO(status.message() << ", rejected " << status.rejected_steps);
    REQUIRE(status.reason == sf::StopReason::loss_tolerance);
    CHECK(status.step <= 5000);
    // Reference steps h·ρ(θ_0) ≤ 0.02 (ρ the largest |eigenvalue| of the Hessian), h ≤ 2e-3.
    const double rho = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(objective.hessian(theta0))
                           .eigenvalues()
                           .cwiseAbs()
                           .maxCoeff();
    const double h = std::min(2e-3, 0.02 / rho);
    const WideNet::Params reference =
        extrapolated_rk4_solution(objective, theta0, status.time, static_cast<Index>(std::ceil(status.time / h)));
    CHECK((theta - reference).norm() / reference.norm() <= 1e-10);
    return;
  }
  FAIL("none of ten problems reached a 100-fold smaller loss by t = 10");
}

TEST_CASE("Dormand–Prince counts accepted and rejected steps, six evaluations each (first same as last)",
          "[flow][dopri]") {
  const auto [objective, theta0] = tanh_problem(1);
  for (const double first : {0.0, 50.0}) {
    TanhNet::Params theta = theta0;
    std::vector<double> sizes;
    const auto status = sf::run(sf::DormandPrince{.rtol = 1e-8, .atol = 1e-8, .initial_step = first}, objective, theta,
                                sf::Stopping{.max_steps = 100000, .max_time = 3.0},
                                [&](const sf::Snapshot<TanhNet::Params>& s) { sizes.push_back(s.step_size); });
    CHECK(status.accepted_steps() == status.step);
    // One evaluation at θ_0, one for the automatic first step, six per attempted step.
    CHECK(status.evaluations == 1 + (first == 0.0 ? 1 : 0) + 6 * (status.step + status.rejected_steps));
    if (first > 0) CHECK(status.rejected_steps >= 1);  // a step of 50 is far too long
    double total = 0;
    for (double h : sizes) total += h;
    CHECK(total == Approx(3.0).epsilon(1e-14));
    CHECK(status.time == 3.0);
  }
}

TEST_CASE("gradient flow stops on NaN instead of iterating on it", "[flow][dopri][rk4]") {
  // ½‖θ‖² flows as θ(t) = θ_0 e^{−t}; the gradient is NaN once θ_0 < ½, i.e. after t = ln 2.
  struct NanBelowHalf {
    using Scalar = double;
    using Params = Eigen::Vector2d;
    Scalar value_and_gradient(const Params& p, Params& g) const {
      g = p;
      if (p[0] < 0.5) g[1] = std::numeric_limits<double>::quiet_NaN();
      return 0.5 * p.squaredNorm();
    }
  };
  Eigen::Vector2d theta(1.0, 1.0);
  Index observed = 0;
  const auto status = sf::run(sf::DormandPrince{}, NanBelowHalf{}, theta, sf::Stopping{.max_steps = 100000},
                              [&](const sf::Snapshot<Eigen::Vector2d>& s) {
                                CHECK(s.gradient.allFinite());
                                ++observed;
                              });
  INFO(status.message());
  CHECK((status.reason == sf::StopReason::step_size_underflow || status.reason == sf::StopReason::too_many_rejections));
  // It gets as close to t = ln 2 as its tolerance (rtol 1e-6) resolves the crossing θ_0 = ½.
  CHECK(status.time == Approx(std::log(2.0)).epsilon(1e-6));
  CHECK(theta.allFinite());
  CHECK(observed == status.step + 1);
  CHECK(status.step < 10000);
  // RK4 steps into the NaN region and stops there: a stage gradient poisons θ.
  Eigen::Vector2d rk(1.0, 1.0);
  const auto rk_status = sf::run(sf::RungeKutta4{0.05}, NanBelowHalf{}, rk, sf::Stopping{.max_steps = 1000});
  CHECK(rk_status.diverged());
  CHECK(rk_status.reason == sf::StopReason::non_finite_parameter);
  CHECK(rk_status.index == 1);
  CHECK(rk_status.time <= std::log(2.0) + 0.05);
}
