// SPDX-License-Identifier: MIT
#pragma once
/// \file Adam (Kingma & Ba), in PyTorch's convention (torch.optim.Adam, amsgrad off):
///
///   g_t = ∇L(θ_{t−1}) + λ θ_{t−1}                    (λ = weight_decay, L2 added to the gradient)
///   m_t = β₁ m_{t−1} + (1 − β₁) g_t,   v_t = β₂ v_{t−1} + (1 − β₂) g_t²      (m_0 = v_0 = 0)
///   θ_t = θ_{t−1} − (η / (1 − β₁ᵗ)) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)
///
/// with defaults η = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8. The last line is m̂_t/(√v̂_t + ε) with
/// the bias-corrected m̂_t = m_t/(1 − β₁ᵗ), v̂_t = v_t/(1 − β₂ᵗ), written as PyTorch evaluates it
/// (ε is added to √v̂_t, not to √v_t).

#include <cmath>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"

namespace symflow {

/// Adam with bias correction, PyTorch's defaults and update order.
struct Adam {
  /// η > 0.
  double learning_rate = 1e-3;
  /// β₁, β₂ ∈ [0, 1).
  double beta1 = 0.9;
  double beta2 = 0.999;
  /// ε ≥ 0.
  double epsilon = 1e-8;
  /// λ ≥ 0: L2 penalty added to the gradient (PyTorch's Adam weight_decay; not decoupled as in AdamW).
  double weight_decay = 0.0;

  /// Throws std::invalid_argument naming the first parameter out of range (PyTorch's checks, and
  /// finiteness).
  void validate() const {
    detail::require_parameter(learning_rate > 0 && std::isfinite(learning_rate), "Adam", "learning_rate", learning_rate,
                              "a finite number > 0");
    detail::require_parameter(beta1 >= 0 && beta1 < 1, "Adam", "beta1", beta1, "a number in [0, 1)");
    detail::require_parameter(beta2 >= 0 && beta2 < 1, "Adam", "beta2", beta2, "a number in [0, 1)");
    detail::require_parameter(epsilon >= 0 && std::isfinite(epsilon), "Adam", "epsilon", epsilon,
                              "a finite number >= 0");
    detail::require_parameter(weight_decay >= 0 && std::isfinite(weight_decay), "Adam", "weight_decay", weight_decay,
                              "a finite number >= 0");
  }

  template <class Params>
  struct State : IntegratorState<Params> {
    /// First and second moment estimates m_t, v_t.
    Params m, v;
    State(Index d) : IntegratorState<Params>(d), m(Params::Zero(d)), v(Params::Zero(d)) {}
  };

  template <DifferentiableObjective O>
  State<typename O::Params> start(const O&, const typename O::Params& theta) const {
    validate();
    return State<typename O::Params>(theta.size());
  }

  template <DifferentiableObjective O, class Params>
  StepOutcome<typename Params::Scalar> advance(const O&, State<Params>& s, Params& theta,
                                               typename Params::Scalar /*max_dt*/) const {
    using Scalar = typename Params::Scalar;
    using std::pow;
    using std::sqrt;
    const Scalar b1 = static_cast<Scalar>(beta1), b2 = static_cast<Scalar>(beta2);
    const Scalar eta = static_cast<Scalar>(learning_rate);
    const Scalar lambda = static_cast<Scalar>(weight_decay);
    const Scalar t = static_cast<Scalar>(s.steps + 1);
    const Scalar bias_correction1 = Scalar(1) - pow(b1, t);
    const Scalar bias_correction2_sqrt = sqrt(Scalar(1) - pow(b2, t));
    const Scalar step_size = eta / bias_correction1;
    const Scalar eps = static_cast<Scalar>(epsilon);
    const auto& grad = s.point.gradient;
    if (lambda != Scalar(0)) {
      // g = ∇L + λθ, without a temporary: fold it into both moment updates.
      s.m = b1 * s.m + (Scalar(1) - b1) * (grad + lambda * theta);
      s.v = b2 * s.v + (Scalar(1) - b2) * (grad + lambda * theta).cwiseAbs2();
    } else {
      s.m = b1 * s.m + (Scalar(1) - b1) * grad;
      s.v = b2 * s.v + (Scalar(1) - b2) * grad.cwiseAbs2();
    }
    theta.array() -= step_size * s.m.array() / (s.v.array().sqrt() / bias_correction2_sqrt + eps);
    return {.dt = eta};
  }
};

}  // namespace symflow
