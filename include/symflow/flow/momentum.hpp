// SPDX-License-Identifier: MIT
#pragma once
/// \file Heavy-ball momentum (Polyak), in PyTorch's convention (torch.optim.SGD with momentum μ,
/// dampening 0):
///
///   v_{t+1} = μ v_t + ∇L(θ_t),   θ_{t+1} = θ_t − η v_{t+1}          (v_0 = 0)
///
/// which is Polyak's θ_{t+1} = θ_t − η∇L(θ_t) + μ(θ_t − θ_{t−1}) (with θ_{−1} = θ_0). The other
/// common form, v ← μv − η∇L, θ ← θ + v (Sutskever et al.), has velocity −η v and the same iterates.
/// With `nesterov`, θ_{t+1} = θ_t − η(∇L(θ_t) + μ v_{t+1}) (PyTorch's Nesterov).
///
/// The paper's §C.4 form is a differential equation, not an update: the second-order gradient flow
/// (31), (τ/2) θ̈ + θ̇ = −ε∇L(θ). Heavy ball with time step h is a first-order consistent
/// discretisation of it when
///
///   μ = (τ − h)/(τ + h),   η = ε h (1 − μ) = 2ε h²/(τ + h)
///
/// (Taylor-expand θ_{t±1} about t: (1 − μ)h θ̇ + (1 + μ)(h²/2) θ̈ + O(h³) = −η∇L). Conversely a
/// heavy ball (η, μ) is that flow with ε = 1, h = η/(1 − μ) and τ = h(1 + μ)/(1 − μ): its time per
/// step is η/(1 − μ), the gradient-flow time it covers once the velocity has settled, and the time
/// this library reports. As τ → 0 (μ → 0) it becomes gradient descent and gradient flow (23).

#include <cmath>
#include <stdexcept>
#include <string>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"

namespace symflow {

/// Heavy-ball momentum, v ← μv + ∇L, θ ← θ − ηv (PyTorch's SGD with momentum).
struct Momentum {
  /// η > 0 (default 0.01).
  double learning_rate = 1e-2;
  /// μ ∈ [0, 1) (default 0.9; μ ≥ 1 does not converge, and the time per step η/(1 − μ) is undefined).
  double momentum = 0.9;
  /// PyTorch's Nesterov variant: θ ← θ − η(∇L + μv) after the velocity update (default off).
  bool nesterov = false;

  /// Throws std::invalid_argument naming η or μ when it is out of range.
  void validate() const {
    detail::require_parameter(learning_rate > 0 && std::isfinite(learning_rate), "Momentum", "learning_rate",
                              learning_rate, "a finite number > 0");
    detail::require_parameter(momentum >= 0 && momentum < 1, "Momentum", "momentum", momentum, "a number in [0, 1)");
  }

  /// The heavy ball that discretises the paper's second-order flow (τ/2)θ̈ + θ̇ = −ε∇L (31) with
  /// time step 0 < h ≤ τ: μ = (τ − h)/(τ + h), η = ε h (1 − μ). A step covers time h of (31), which
  /// is time εh of θ̇ = −∇L, the time symflow reports.
  static Momentum from_second_order_flow(double tau, double h, double epsilon = 1.0) {
    if (!(tau > 0 && h > 0 && h <= tau && epsilon > 0))
      throw std::invalid_argument("symflow::Momentum::from_second_order_flow: expected 0 < h <= tau and epsilon > 0, got tau = " +
                                  std::to_string(tau) + ", h = " + std::to_string(h) + ", epsilon = " + std::to_string(epsilon));
    const double mu = (tau - h) / (tau + h);
    return Momentum{.learning_rate = epsilon * h * (1.0 - mu), .momentum = mu};
  }

  /// τ of the second-order flow this heavy ball discretises (with ε = 1): h(1 + μ)/(1 − μ), where
  /// h = η/(1 − μ) is its time per step.
  double second_order_flow_tau() const {
    const double h = learning_rate / (1.0 - momentum);
    return h * (1.0 + momentum) / (1.0 - momentum);
  }

  template <class Params>
  struct State : IntegratorState<Params> {
    /// v_t (∇L accumulated with decay μ).
    Params velocity;
    State(Index d) : IntegratorState<Params>(d), velocity(Params::Zero(d)) {}
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
    const Scalar mu = static_cast<Scalar>(momentum);
    const Scalar eta = static_cast<Scalar>(learning_rate);
    s.velocity = mu * s.velocity + s.point.gradient;
    if (nesterov) theta -= eta * (s.point.gradient + mu * s.velocity);
    else theta -= eta * s.velocity;
    return {.dt = eta / (Scalar(1) - mu)};
  }
};

}  // namespace symflow
