// SPDX-License-Identifier: MIT
#pragma once
/// \file Checks a user can run on their own models, actions and quantities: finite differences,
/// relative errors, tolerances per scalar. symflow's own tests use the same functions.

#include <algorithm>
#include <cmath>
#include <limits>

#include "symflow/core/config.hpp"
#include "symflow/flow/dormand_prince.hpp"
#include "symflow/flow/run.hpp"

namespace symflow::testing {

/// ‖a − b‖ / max(‖b‖, floor): the relative error used throughout symflow's tests.
template <class DA, class DB>
double relative_error(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double floor = 1e-300) {
  const double diff = static_cast<double>((a - b).norm());
  const double scale = std::max(static_cast<double>(b.norm()), floor);
  return diff / scale;
}

/// |a − b| / max(|b|, floor) for scalars.
inline double relative_error(double a, double b, double floor = 1e-300) {
  return std::abs(a - b) / std::max(std::abs(b), floor);
}

/// ∛ε: the step that balances truncation and rounding in a central difference.
template <class Scalar>
Scalar central_step() {
  return std::cbrt(std::numeric_limits<Scalar>::epsilon());
}

/// Central differences of a scalar function f : R^d → R at θ, with step h·max(1, |θ_i|). θ may be
/// a vector or a matrix (an input X, say); its entries are perturbed in storage order and the
/// gradient has θ's shape.
template <class F, class Params>
Params finite_difference_gradient(const F& f, const Params& theta,
                                  typename Params::Scalar h = central_step<typename Params::Scalar>()) {
  using S = typename Params::Scalar;
  Params g = Params::Zero(theta.rows(), theta.cols());
  Params t = theta;
  for (Index i = 0; i < theta.size(); ++i) {
    using std::abs;
    const S step = h * std::max(S(1), abs(theta(i)));
    t(i) = theta(i) + step;
    const S up = f(t);
    t(i) = theta(i) - step;
    const S down = f(t);
    t(i) = theta(i);
    g(i) = (up - down) / (S(2) * step);
  }
  return g;
}

/// d/dt c(t) at t = 0 by central differences, for a curve c : R → R^d (e.g. t ↦ exp(tM)·θ).
template <class Curve>
auto curve_derivative(const Curve& c, double h = 1e-5) {
  using V = decltype(c(0.0));
  return V((c(h) - c(-h)) / static_cast<typename V::Scalar>(2 * h));
}

/// \name Checks of a group action on a model's parameter space
/// Each returns the measured error (a relative error unless said otherwise), for any action with
/// the members act, generator, identity, compose, inverse, exp and algebra() (every symflow action has
/// them), so a user can run them on their own model and activation. Tolerances are the caller's:
/// exact identities hold to a few hundred ulps (1e-12 in double for well-conditioned g), derivative
/// checks by central differences to about 1e-8.
/// @{

/// ‖I·θ − θ‖ / ‖θ‖: the identity axiom.
template <class Action>
double identity_axiom_error(const Action& action, const typename Action::Params& theta) {
  return relative_error(action.act(action.identity(), theta), theta);
}

/// ‖g₂·(g₁·θ) − (g₂g₁)·θ‖ / ‖(g₂g₁)·θ‖: the composition axiom, with g₂g₁ = compose(g₂, g₁).
template <class Action>
double composition_axiom_error(const Action& action, const typename Action::Group& g2, const typename Action::Group& g1,
                               const typename Action::Params& theta) {
  const typename Action::Params both = action.act(action.compose(g2, g1), theta);
  return relative_error(action.act(g2, action.act(g1, theta)), both);
}

/// ‖g⁻¹·(g·θ) − θ‖ / ‖θ‖: the inverse axiom.
template <class Action>
double inverse_axiom_error(const Action& action, const typename Action::Group& g, const typename Action::Params& theta) {
  return relative_error(action.act(action.inverse(g), action.act(g, theta)), theta);
}

/// |L(g·θ) − L(θ)| / |L(θ)|: invariance of an objective (anything with value(θ)) under g.
template <class Objective, class Action>
double invariance_error(const Objective& objective, const Action& action, const typename Action::Group& g,
                        const typename Action::Params& theta) {
  return relative_error(static_cast<double>(objective.value(action.act(g, theta))),
                        static_cast<double>(objective.value(theta)));
}

/// ‖F_{g·θ}(X) − F_θ(X)‖ / ‖F_θ(X)‖: the network function itself is unchanged on the inputs X (a
/// stronger check than loss invariance, and independent of the loss).
template <class Model, class Action, class DerivedX>
double output_invariance_error(const Model& model, const Action& action, const typename Action::Group& g,
                               const typename Action::Params& theta, const Eigen::MatrixBase<DerivedX>& x) {
  const auto before = model.forward(theta, x);
  const auto after = model.forward(action.act(g, theta), x);
  return relative_error(after, before);
}

/// ‖M̄θ − (exp(hM)·θ − exp(−hM)·θ)/(2h)‖ / ‖M̄θ‖: the generator is the derivative of the action
/// along the one-parameter subgroup t ↦ exp(tM) (eq. 9). The central difference has error
/// O(h²‖M‖³‖θ‖ + ε‖θ‖/h).
template <class Action>
double generator_derivative_error(const Action& action, const typename Action::Algebra& m,
                                  const typename Action::Params& theta, double h = 1e-5) {
  using Params = typename Action::Params;
  using S = typename Action::Scalar;
  const auto scaled = [&](double t) {
    typename Action::Algebra tm = m;
    if constexpr (requires { tm * S(t); }) {
      tm = m * S(t);
    } else {
      tm = action.algebra().from_coordinates(action.algebra().coordinates(m) * S(t));
    }
    return tm;
  };
  const Params fd = curve_derivative([&](double t) { return Params(action.act(action.exp(scaled(t)), theta)); }, h);
  return relative_error(action.generator(m, theta), fd, 1e-300);
}

/// |⟨∇L(θ), M̄θ⟩| / (‖∇L(θ)‖·‖M̄θ‖): zero for a symmetry of L (Prop. 1 / Prop. 5). Returns 0 when
/// either vector is zero.
template <class Objective, class Action>
double gradient_orthogonality(const Objective& objective, const Action& action, const typename Action::Algebra& m,
                              const typename Action::Params& theta) {
  const typename Action::Params grad = objective.gradient(theta);
  const typename Action::Params xi = action.generator(m, theta);
  const double scale = static_cast<double>(grad.norm()) * static_cast<double>(xi.norm());
  return scale == 0.0 ? 0.0 : std::abs(static_cast<double>(grad.dot(xi))) / scale;
}

/// The largest gradient_orthogonality over the basis of the action's Lie algebra.
template <class Objective, class Action>
double max_gradient_orthogonality(const Objective& objective, const Action& action,
                                  const typename Action::Params& theta) {
  const typename Action::Params grad = objective.gradient(theta);
  const double gnorm = static_cast<double>(grad.norm());
  double worst = 0.0;
  for (Index i = 0; i < action.algebra().dimension(); ++i) {
    const typename Action::Params xi = action.generator(action.algebra().basis(i), theta);
    const double scale = gnorm * static_cast<double>(xi.norm());
    if (scale > 0.0) worst = std::max(worst, std::abs(static_cast<double>(grad.dot(xi))) / scale);
  }
  return worst;
}

/// ‖gᵀ·∇L(g·θ) − ∇L(θ)‖ / ‖∇L(θ)‖: the gradient transformation law of a linear symmetry (Prop. 10,
/// eq. 19), where gᵀ acts through action.transpose(g), the adjoint of θ ↦ g·θ.
template <class Objective, class Action>
double gradient_transformation_error(const Objective& objective, const Action& action,
                                     const typename Action::Group& g, const typename Action::Params& theta) {
  const typename Action::Params moved = objective.gradient(action.act(g, theta));
  return relative_error(action.act(action.transpose(g), moved), objective.gradient(theta));
}

/// @}

/// \name Checks of a whole group policy on a user's model, in any scalar
/// For a group, layer or activation of one's own: run check_linear_symmetry and conservation_drift
/// at a few random points, over float, double and long double, and compare with the tolerances
/// below (what symflow's own groups meet; docs/symmetries.md, "your own group / your own activation").
/// @{

/// 4096 ε: the tolerance of exact identities (axioms, invariance) for well-conditioned group
/// elements — 9.1e-13 in double, 4.9e-4 in float, 4.4e-16 in x87 long double.
template <class Scalar>
double exact_tolerance() {
  return 4096.0 * static_cast<double>(std::numeric_limits<Scalar>::epsilon());
}

/// 100 h² with h = ∛ε the central-difference step: the tolerance of a generator against central
/// differences of the action for ‖M‖ ≈ 1 — 3.6e-9 in double, 2.4e-3 in float.
template <class Scalar>
double derivative_tolerance() {
  const double h = static_cast<double>(central_step<Scalar>());
  return 100.0 * h * h;
}

/// The measured errors of every property of a linear symmetry of a loss at one point.
struct SymmetryReport {
  double identity_axiom = 0;     ///< ‖I·θ − θ‖ / ‖θ‖
  double composition_axiom = 0;  ///< ‖g₂·(g₁·θ) − (g₂g₁)·θ‖ / ‖(g₂g₁)·θ‖
  double inverse_axiom = 0;      ///< ‖g⁻¹·(g·θ) − θ‖ / ‖θ‖
  double output_invariance = 0;  ///< ‖F_{g·θ}(X) − F_θ(X)‖ / ‖F_θ(X)‖
  double loss_invariance = 0;    ///< |L(g·θ) − L(θ)| / |L(θ)|
  double gradient_orthogonality = 0;  ///< max over a basis of |⟨∇L, M̄θ⟩| / (‖∇L‖‖M̄θ‖)
  double generator_derivative = 0;    ///< ‖M̄θ − central difference of exp(tM)·θ‖ / ‖M̄θ‖
  /// The largest error of the exact identities (all but the finite-difference check).
  double worst_exact() const {
    return std::max({identity_axiom, composition_axiom, inverse_axiom, output_invariance, loss_invariance,
                     gradient_orthogonality});
  }
};

/// Every check of `action` as a symmetry of `objective` (an Objective: value, gradient, output) at θ,
/// with group elements g = exp(M) for random M of coordinate norm `spread` and the generator of a
/// random M of norm 1 checked against central differences with the step ∛ε of the scalar.
template <class Action, class Objective, class Rng>
SymmetryReport check_linear_symmetry(const Action& action, const Objective& objective,
                                     const typename Action::Params& theta, Rng& rng, double spread = 0.5) {
  using S = typename Action::Scalar;
  const auto& algebra = action.algebra();
  const auto random_element = [&](double norm) {
    const auto c = algebra.coordinates(algebra.random(rng));
    return algebra.from_coordinates(c * static_cast<S>(norm / static_cast<double>(c.norm())));
  };
  const typename Action::Group g1 = action.exp(random_element(spread));
  const typename Action::Group g2 = action.exp(random_element(spread));
  SymmetryReport r;
  r.identity_axiom = identity_axiom_error(action, theta);
  r.composition_axiom = composition_axiom_error(action, g2, g1, theta);
  r.inverse_axiom = inverse_axiom_error(action, g1, theta);
  r.output_invariance = relative_error(objective.output(action.act(g1, theta)), objective.output(theta));
  r.loss_invariance = invariance_error(objective, action, g1, theta);
  r.gradient_orthogonality = max_gradient_orthogonality(objective, action, theta);
  r.generator_derivative =
      generator_derivative_error(action, random_element(1.0), theta, static_cast<double>(central_step<S>()));
  return r;
}

/// The magnitude of a quantity's value: |q| for a scalar, the Frobenius norm for a vector or matrix.
template <class V>
double value_magnitude(const V& v) {
  if constexpr (requires { v.norm(); }) return static_cast<double>(v.norm());
  else return std::abs(static_cast<double>(v));
}

/// max_t ‖Q(θ_t) − Q(θ_0)‖ / max(‖Q(θ_0)‖, ‖θ_0‖²) along gradient flow of `objective` from θ up to
/// time `t_end`, integrated by Dormand–Prince (`method`; by default rtol = atol = max(1e-12, 100 ε)):
/// of the order of the integrator's tolerance for a conserved quantity, O(1) for one that is not.
/// The scale ‖θ_0‖² is that of every quadratic quantity, so a Q that happens to start near 0 is not
/// judged against its own rounding.
template <class Objective, class Quantity>
double conservation_drift(const Objective& objective, const Quantity& q, typename Quantity::Params theta,
                          double t_end, const DormandPrince& method) {
  const auto q0 = q.value(theta);
  const double scale = std::max(value_magnitude(q0), static_cast<double>(theta.squaredNorm()));
  double drift = 0;
  run(method, objective, theta, Stopping{.max_steps = 1000000, .max_time = t_end},
      [&](const Snapshot<typename Quantity::Params>& s) {
        const auto now = q.value(s.theta);
        drift = std::max(drift, value_magnitude(decltype(q0)(now - q0)) / scale);
      });
  return drift;
}

template <class Objective, class Quantity>
double conservation_drift(const Objective& objective, const Quantity& q, const typename Quantity::Params& theta,
                          double t_end) {
  const double tolerance =
      std::max(1e-12, 100.0 * static_cast<double>(std::numeric_limits<typename Quantity::Scalar>::epsilon()));
  return conservation_drift(objective, q, theta, t_end, DormandPrince{.rtol = tolerance, .atol = tolerance});
}

/// @}

}  // namespace symflow::testing
