// SPDX-License-Identifier: MIT
#pragma once
/// \file Gradient flow θ̇ = −∇L(θ) (the paper's (23) with ε = I) by the classical fourth-order
/// Runge–Kutta method with a fixed step h:
///
///   g₁ = ∇L(θ),  g₂ = ∇L(θ − (h/2) g₁),  g₃ = ∇L(θ − (h/2) g₂),  g₄ = ∇L(θ − h g₃),
///   θ ← θ − (h/6)(g₁ + 2g₂ + 2g₃ + g₄).
///
/// Global error O(h⁴) for smooth L: halving h divides the error at a fixed time by 16. On the
/// quadratic ½θᵀAθ each eigen-mode is multiplied per step by R(hλ) = 1 − z + z²/2 − z³/6 + z⁴/24,
/// z = hλ (stable for z ≤ 2.78). ReLU kinks crossed along the way reduce the order.

#include <cmath>
#include <limits>
#include <type_traits>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"

namespace symflow {

/// Fixed-step classical Runge–Kutta for gradient flow. Three evaluations per step besides the one
/// at θ (which the driver reuses for observers and stopping rules).
struct RungeKutta4 {
  /// h > 0 (default 0.01); the last step of a run with a time budget is shortened to land on it.
  double step_size = 1e-2;

  /// Throws std::invalid_argument unless h is positive and finite.
  void validate() const {
    detail::require_parameter(step_size > 0 && std::isfinite(step_size), "RungeKutta4", "step_size", step_size,
                              "a finite number > 0");
  }

  template <class Params>
  struct State : IntegratorState<Params> {
    Params g2, g3, g4, stage;
    State(Index d)
        : IntegratorState<Params>(d), g2(Params::Zero(d)), g3(Params::Zero(d)), g4(Params::Zero(d)), stage(Params::Zero(d)) {}
  };

  template <DifferentiableObjective O>
  State<typename O::Params> start(const O&, const typename O::Params& theta) const {
    static_assert(!StochasticObjective<O>,
                  "symflow::RungeKutta4 integrates the gradient flow of a fixed objective; a mini-batch objective "
                  "changes between steps (use GradientDescent, Momentum or Adam)");
    validate();
    return State<typename O::Params>(theta.size());
  }

  template <DifferentiableObjective O, class Params>
  StepOutcome<typename Params::Scalar> advance(const O& objective, State<Params>& s, Params& theta,
                                               typename Params::Scalar max_dt) const {
    using Scalar = typename Params::Scalar;
    StepOutcome<Scalar> out;
    Scalar h = static_cast<Scalar>(step_size);
    // Land on the time budget; absorb a remainder within rounding of one step.
    if (max_dt <= h * (Scalar(1) + Scalar(64) * std::numeric_limits<Scalar>::epsilon())) {
      h = max_dt;
      out.landed = true;
    }
    const Scalar half = h / Scalar(2);
    const Params& g1 = s.point.gradient;
    s.stage = theta - half * g1;
    objective.value_and_gradient(s.stage, s.g2);
    s.stage = theta - half * s.g2;
    objective.value_and_gradient(s.stage, s.g3);
    s.stage = theta - h * s.g3;
    objective.value_and_gradient(s.stage, s.g4);
    theta -= (h / Scalar(6)) * (g1 + Scalar(2) * (s.g2 + s.g3) + s.g4);
    out.dt = h;
    out.evaluations = 3;
    return out;
  }
};

/// One RK4 step of gradient flow in place; returns L(θ) at the start. Allocation-free for
/// fixed-size models.
template <DifferentiableObjective O, class Params>
typename Params::Scalar rk4_flow_step(const O& objective, Params& theta, double dt) {
  const RungeKutta4 rk4{dt};
  auto state = rk4.start(objective, theta);
  detail::evaluate(objective, theta, state.point);
  rk4.advance(objective, state, theta, std::numeric_limits<typename Params::Scalar>::infinity());
  return state.point.loss;
}

}  // namespace symflow
