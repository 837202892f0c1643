// Specification of how heavy-ball momentum breaks the conservation laws (§C.4). With the
// displacement v_t = θ_t − θ_{t−1} and the discrete Noether charge K_t = ½ DQ(θ_t)[v_t] of a
// quadratic Q, heavy ball satisfies exactly K_{t+1} = β K_t + Q(v_{t+1}) and
// Q_{t+1} − Q_t = K_{t+1} + β K_t. Consequences checked here: for antisymmetric generators (O(h) on a
// radial layer) the charge decays exactly as β^t (eq. 33's e^{−t/τ}); for the conserved quantities
// it is fed by Q(v), and at equal effective learning rate η/(1 − β) heavy ball drifts (1 + β)/(1 − β)
// times as much as gradient descent.
#include "support.hpp"

#include <symflow/symflow.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::magnitude;

namespace {

/// Runs heavy ball for `steps` steps and checks both discrete identities at every step, to `tol`
/// relative to ‖θ_t‖(‖v_{t+1}‖ + β‖v_t‖) + ‖v_{t+1}‖², the size of the bilinear terms (rounding of the
/// iterates contributes ε‖θ‖², so the run is kept short enough that ‖v‖/‖θ‖ ≥ 1e-4). Returns the
/// largest |K| seen (to show it is not trivial).
template <class Q, class Objective>
double check_heavy_ball_identities(const Q& q, const Objective& objective, typename Q::Params theta, double eta,
                                   double beta, sf::Index steps, double tol) {
  using Params = typename Q::Params;
  using Value = typename Q::Value;
  const sf::Momentum method{.learning_rate = eta, .momentum = beta};
  Params previous = theta, before_previous = theta;
  double worst_charge = 0, worst_change = 0, largest = 0, slowest = 1e300;
  auto observer = [&](const sf::Snapshot<Params>& s) {
    if (s.step >= 1) {
      // K_t with t the current step, K_{t−1} from the previous pair; v_t = θ_t − θ_{t−1}.
      const Value k_now = sf::momentum_charge(q, s.theta, previous);
      const Value k_before = s.step >= 2 ? Value(sf::momentum_charge(q, previous, before_previous))
                                         : Value(sf::momentum_charge(q, previous, previous));
      const Params v = s.theta - previous;
      const Value qv = q.value(v);
      const Value charge_residual = k_now - Value(beta * k_before) - qv;
      const Value q_now = q.value(s.theta), q_before = q.value(previous);
      const Value change_residual = q_now - q_before - k_now - Value(beta * k_before);
      const double v_now = v.norm(), v_before = (previous - before_previous).norm();
      const double scale = previous.norm() * (v_now + beta * v_before) + v_now * v_now;
      slowest = std::min(slowest, v_now / s.theta.norm());
      worst_charge = std::max(worst_charge, magnitude(charge_residual) / scale);
      worst_change = std::max(worst_change, magnitude(change_residual) / scale);
      largest = std::max(largest, magnitude(k_now));
    }
    before_previous = previous;
    previous = s.theta;
  };
  sf::run(method, objective, theta, sf::Stopping{.max_steps = steps}, observer);
  INFO("K_{t+1} − βK_t − Q(v): " << worst_charge << ", ΔQ − K_{t+1} − βK_t: " << worst_change << ", min ‖v‖/‖θ‖ "
                                 << slowest);
  CHECK(slowest >= 1e-4);
  CHECK(worst_charge <= tol);
  CHECK(worst_change <= tol);
  return largest;
}

// A smooth radial profile f(r) = 1/(1 + r²).
struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};

}  // namespace

TEST_CASE("heavy ball: the discrete Noether identities hold exactly for quadratic quantities", "[drift][momentum]") {
  for (int trial = 0; trial < 3; ++trial) {
    auto rng = rng_for(trial);
    INFO("trial " << trial);
    {
      using Net = sf::BiasedMlp<double, sf::Identity, 3, 5, 2>;
      const Net net;
      const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
      const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
      const Net::Params theta = sf::random_params(net, rng, 0.6);
      for (double beta : {0.5, 0.9}) {
        const double k = check_heavy_ball_identities(sf::LayerImbalance<Net>(net), objective, theta, 0.01, beta, 60, 1e-10);
        CHECK(k > 1e-8);
        check_heavy_ball_identities(sf::LayerImbalanceTrace<Net>(net), objective, theta, 0.01, beta, 60, 1e-10);
      }
    }
    {
      using Net = sf::Mlp<double, sf::LeakyReLU, 3, 5, 2>;
      const Net net(sf::LeakyReLU{0.1});
      const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
      const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
      const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
      const Net::Params theta = sf::random_params(net, rng, 0.6);
      check_heavy_ball_identities(sf::ScalingImbalance<Net>(net), objective, theta, 0.05, 0.8, 60, 1e-10);
      const sf::ScalingAction<Net> action(net);
      check_heavy_ball_identities(sf::lie_quantity(action, action.algebra().random(rng)), objective, theta, 0.05, 0.8,
                                  60, 1e-10);
    }
  }
}

TEST_CASE("heavy ball on a radial layer: the O(h) charge ⟨M̄θ_t, v_t⟩ decays exactly as β^t (eq. 33)",
          "[drift][momentum][radial]") {
  using Net = sf::Mlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
  const Net net;
  const sf::OrthogonalAction<Net> action(net);
  for (int trial = 0; trial < 3; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    Net::Params theta = sf::random_params(net, rng, 0.7);
    const Eigen::Matrix4d m = action.algebra().random(rng);
    const double eta = 0.02, beta = 0.9;
    const sf::Momentum method{.learning_rate = eta, .momentum = beta};
    // Start with a velocity buffer b₀: the first displacement is v₁ = β(−η b₀) − η∇L(θ₀), so
    // v₀ = −η b₀ plays the displacement into θ₀ and K₀ = ⟨M̄θ₀, v₀⟩.
    auto state = method.start(objective, theta);
    state.velocity = sf::random_params(net, rng);
    const Net::Params v0 = -eta * state.velocity;
    const double k0 = action.generator(m, theta).dot(v0);
    Net::Params previous = theta;
    double worst = 0;
    auto observer = [&](const sf::Snapshot<Net::Params>& s) {
      if (s.step >= 1) {
        const double k = sf::generator_charge(action, m, s.theta, previous);
        const double expected = std::pow(beta, static_cast<double>(s.step)) * k0;
        // Relative to the size of the terms of ⟨M̄θ, v⟩ (each O(‖M̄θ‖‖v‖)).
        const double scale = action.generator(m, s.theta).norm() * (s.theta - previous).norm();
        worst = std::max(worst, std::abs(k - expected) / scale);
      }
      previous = s.theta;
    };
    sf::run(method, state, objective, theta, sf::Stopping{.max_steps = 100}, observer);
    INFO("trial " << trial << ": K₀ = " << k0 << ", worst |K_t − β^t K₀| / (‖M̄θ‖‖v‖) = " << worst);
    CHECK(std::abs(k0) > 1e-3);
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("heavy ball from rest keeps the O(h) charge at zero, but feeds the charge of a conserved quantity",
          "[drift][momentum]") {
  using Net = sf::Mlp<double, sf::Identity, 3, 4, 2>;  // O(h) ⊂ GL_h acts on a linear layer too
  const Net net;
  const sf::GeneralLinearAction<Net> action(net);
  auto rng = rng_for(0);
  const auto x = sf::test::normal<Eigen::Matrix<double, 3, 6>>(rng);
  const auto y = sf::test::normal<Eigen::Matrix<double, 2, 6>>(rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  Net::Params theta = sf::random_params(net, rng, 0.7);
  const Eigen::Matrix4d a = action.algebra().random(rng);
  const Eigen::Matrix4d anti = a - a.transpose(), sym = a + a.transpose();
  Net::Params previous = theta;
  double worst_anti = 0, smallest_sym = 1e300;
  auto observer = [&](const sf::Snapshot<Net::Params>& s) {
    if (s.step >= 1) {
      const double scale = s.theta.norm() * (s.theta - previous).norm();
      worst_anti = std::max(worst_anti, std::abs(sf::generator_charge(action, anti, s.theta, previous)) / scale);
      smallest_sym = std::min(smallest_sym, std::abs(sf::generator_charge(action, sym, s.theta, previous)) / scale);
    }
    previous = s.theta;
  };
  sf::run(sf::Momentum{.learning_rate = 0.02, .momentum = 0.9}, objective, theta, sf::Stopping{.max_steps = 100}, observer);
  INFO("antisymmetric " << worst_anti << ", symmetric " << smallest_sym);
  CHECK(worst_anti < 1e-13);
  CHECK(smallest_sym > 1e-8);
}

namespace {

/// Net drift and total variation of Q over `steps` steps of `method`.
template <class Method, class Q, class Objective>
std::pair<double, double> drift_and_variation(const Method& method, const Q& q, const Objective& objective,
                                              typename Q::Params theta, sf::Index steps) {
  const double q0 = q.value(theta);
  double previous = q0, variation = 0;
  auto observer = [&](const typename Q::Params& p) {
    const double now = q.value(p);
    variation += std::abs(now - previous);
    previous = now;
  };
  sf::run(method, objective, theta, sf::Stopping{.max_steps = steps},
          [&](sf::Index, double, const typename Q::Params& p, double, const typename Q::Params&) { observer(p); });
  return {previous - q0, variation};
}

}  // namespace

TEST_CASE("at equal effective learning rate, heavy ball drifts (1 + β)/(1 − β) times as much as gradient descent",
          "[drift][momentum]") {
  auto run = [](auto act, double tol) {
    using A = decltype(act);
    using Net = sf::Mlp<double, A, 4, 6, 3>;
    const Net net(act);
    auto rng = rng_for(7);
    const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Net::Params theta = sf::random_params(net, rng, 0.5);
    const auto q = sf::summed(sf::ElementwiseQuantity<Net>(net));
    const double effective = 2e-3, time = 2.0;
    const auto steps = static_cast<sf::Index>(time / effective);
    const auto [gd_net, gd_var] = drift_and_variation(sf::GradientDescent{effective}, q, objective, theta, steps);
    for (double beta : {0.5, 0.8}) {
      const sf::Momentum hb{.learning_rate = effective * (1 - beta), .momentum = beta};
      const auto [hb_net, hb_var] = drift_and_variation(hb, q, objective, theta, steps);
      const double factor = sf::heavy_ball_drift_factor(beta);
      INFO(A::name() << " β = " << beta << ": variation ratio " << hb_var / gd_var << ", net ratio " << hb_net / gd_net
                     << ", predicted " << factor);
      CHECK(std::abs(hb_var / gd_var / factor - 1) <= tol);
      CHECK(std::abs(hb_net - factor * gd_net) <= tol * factor * gd_var);
    }
  };
  run(sf::Identity{}, 0.05);
  run(sf::Tanh{}, 0.05);
  run(sf::Sigmoid{}, 0.05);
}
