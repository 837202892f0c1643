// Specification of spectral initialisation against the integrated gradient flow (Props. 14–16):
// from U₀ = Φ_r diag(ū), V₀ = Ψ_r diag(v̄) the flow of ½‖Y − U g(Vᵀ)‖² with h(r) = r⁻² stays on the
// spectral manifold, keeps every λ_i = ū_i² + v̄_i², and moves every mode by eq. (59): the time at
// which σ_i^X reaches a value is λ_i ∫ ds/((σ^Y − s)(s² + 1)²), and |σ^X − σ^Y| stays below the
// bound of eq. (69). Also initialisation at a chosen Q followed by the flow: Q stays where it was put.
#include "support.hpp"

#include <symflow/symflow.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

/// Spectral initialisation at chosen λ and σ^X(0), then Dormand–Prince on `loss` until flow time
/// 3·time_scale (time_scale = m·n/2 for the mean squared error, whose gradient is 2/(m·n) times
/// that of ½‖·‖²), checking the manifold, λ, the mode times of eq. (59) and the bound of eq. (69).
template <class Loss>
void check_spectral_flow(const Loss& loss, double time_scale, int trial) {
  using Model = sf::RadialFactorization<double, sf::InverseSquare, 10, 4, 5>;  // Y ∈ R^{5×10}, r = 4
  const Model model;
  const Eigen::Matrix<double, 10, 10> x = Eigen::Matrix<double, 10, 10>::Identity();
  auto rng = rng_for(trial);
  const auto y = sf::test::normal<Eigen::Matrix<double, 5, 10>>(rng);
  const auto basis = sf::spectral_basis(y);
  const Eigen::Vector4d lambda(0.5, 1.0, 2.0, 4.0);
  const Eigen::Vector4d sigma0 = sf::test::normal<Eigen::Vector4d>(rng);
  Model::Params theta = sf::spectral_initialization_at(model, basis, lambda, sigma0);
  const sf::RadialFactorizationQuantity<Model> q(model);
  double worst_manifold = 0, worst_lambda = 0, worst_time = 0, worst_bound = 0;
  int checked = 0;
  auto observer = [&](const sf::Snapshot<Model::Params>& s) {
    worst_manifold = std::max(worst_manifold, sf::spectral_residual(model, basis, s.theta));
    worst_lambda = std::max(worst_lambda, st::relative_error((2 * q.value(s.theta)).eval(), lambda));
    if (s.step == 0) return;
    const Eigen::VectorXd sigma = sf::mode_values(model, basis, s.theta);
    const double t = s.time / time_scale;
    for (int i = 0; i < 4; ++i) {
      const double gap = std::abs(sigma[i] - basis.values[i]);
      worst_bound = std::max(worst_bound, gap / sf::mode_bound(t, sigma0[i], basis.values[i], lambda[i]));
      if (gap > 1e-6 * std::abs(sigma0[i] - basis.values[i])) {
        const double predicted = sf::mode_time(sigma0[i], sigma[i], basis.values[i], lambda[i]);
        worst_time = std::max(worst_time, std::abs(predicted - t) / t);
        ++checked;
      }
    }
  };
  const auto status = sf::run(sf::DormandPrince{.rtol = 1e-12, .atol = 1e-14}, sf::Objective(model, loss, x, y), theta,
                              sf::Stopping{.max_steps = 200000, .max_time = 3.0 * time_scale}, observer);
  INFO(Loss::name() << " trial " << trial << ": off-manifold " << worst_manifold << ", λ drift " << worst_lambda
                    << ", time error " << worst_time << " over " << checked << " checks, |σ^X − σ^Y| / bound ≤ "
                    << worst_bound);
  CHECK(status.reason == sf::StopReason::time_budget);
  CHECK(checked > 20);
  CHECK(worst_manifold < 1e-10);
  CHECK(worst_lambda < 1e-10);
  CHECK(worst_time < 1e-7);
  CHECK(worst_bound <= 1.0 + 1e-9);
}

}  // namespace

TEST_CASE("spectral initialisation: the integrated flow follows eq. (59) mode by mode, within the bound of eq. (69)",
          "[init][spectral][flow]") {
  check_spectral_flow(sf::HalfSquaredError{}, 1.0, 0);
  check_spectral_flow(sf::HalfSquaredError{}, 1.0, 1);
  check_spectral_flow(sf::MeanSquaredError{}, 25.0, 2);  // m·n/2 = 25
}

TEST_CASE("initialised at a chosen Q, gradient flow keeps Q at the chosen value", "[init][chosen][flow]") {
  using Net = sf::Mlp<double, sf::Tanh, 4, 8, 3>;
  const Net net;
  const sf::ElementwiseQuantity<Net> q(net);
  auto rng = rng_for(0);
  const Eigen::Matrix4d x = Eigen::Matrix4d::Identity();
  const auto y = net.forward(sf::random_params(net, rng, 0.8), x);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const Net::Params start = sf::initialize(net, sf::XavierNormal{}, rng);
  int runs = 0;
  for (double target : {-1.0, 0.0, 0.5, 3.0}) {
    if (target < -q.incoming(start)) continue;  // below the reach of Preserve::features
    ++runs;
    Net::Params theta = sf::with_elementwise_quantity(net, start, target);
    const double loss0 = objective.value(theta);
    double worst = 0;
    auto observer = [&](const Net::Params& p) { worst = std::max(worst, std::abs(q.value(p).sum() - target)); };
    const auto status = sf::run(sf::DormandPrince{.rtol = 1e-12, .atol = 1e-14}, objective, theta,
                                sf::Stopping{.max_steps = 100000, .loss_tolerance = loss0 / 100},
                                [&](sf::Index, double, const Net::Params& p, double, const Net::Params&) { observer(p); });
    INFO("target " << target << ": worst |Q − target| " << worst);
    CHECK(status.reason == sf::StopReason::loss_tolerance);
    CHECK(worst <= 1e-10 * (1 + std::abs(target)));
  }
  CHECK(runs >= 3);
}
