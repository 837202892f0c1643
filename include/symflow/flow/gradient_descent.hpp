// SPDX-License-Identifier: MIT
#pragma once
/// \file Gradient descent, θ_{t+1} = θ_t − η ∇L(θ_t) (the paper's §C.1 with ε = ηI).
///
/// On a MiniBatchObjective this is mini-batch stochastic gradient descent: ∇L is the gradient of
/// the loss on the current batch, and a new batch is drawn after every step.

#include <cmath>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"

namespace symflow {

/// θ ← θ − η ∇L(θ). Time advances by η per step (the gradient-flow time one step approximates).
struct GradientDescent {
  /// η > 0 (default 0.01).
  double learning_rate = 1e-2;

  /// Throws std::invalid_argument unless η is positive and finite.
  void validate() const {
    detail::require_parameter(learning_rate > 0 && std::isfinite(learning_rate), "GradientDescent", "learning_rate",
                              learning_rate, "a finite number > 0");
  }

  template <class Params>
  struct State : IntegratorState<Params> {
    using IntegratorState<Params>::IntegratorState;
  };

  template <DifferentiableObjective O>
  State<typename O::Params> start(const O&, const typename O::Params& theta) const {
    validate();
    return State<typename O::Params>(theta.size());
  }

  template <DifferentiableObjective O, class Params>
  StepOutcome<typename Params::Scalar> advance(const O&, State<Params>& state, Params& theta,
                                               typename Params::Scalar /*max_dt*/) const {
    using Scalar = typename Params::Scalar;
    const Scalar eta = static_cast<Scalar>(learning_rate);
    theta -= eta * state.point.gradient;
    return {.dt = eta};
  }
};

/// One gradient-descent step in place, with `gradient` as workspace (it holds ∇L(θ_t) afterwards).
/// Returns L(θ_t), the loss before the step.
template <DifferentiableObjective O, class Params>
typename Params::Scalar gd_step(const O& objective, Params& theta, double learning_rate, Params& gradient) {
  using Scalar = typename Params::Scalar;
  GradientDescent{learning_rate}.validate();
  if constexpr (Params::SizeAtCompileTime == Dynamic) gradient.resize(theta.size());
  const Scalar loss = objective.value_and_gradient(theta, gradient);
  theta -= static_cast<Scalar>(learning_rate) * gradient;
  return loss;
}

/// One gradient-descent step in place; returns L(θ_t). Allocation-free for fixed-size models.
template <DifferentiableObjective O, class Params>
typename Params::Scalar gd_step(const O& objective, Params& theta, double learning_rate) {
  Params gradient(theta.size());
  return gd_step(objective, theta, learning_rate, gradient);
}

/// One step of mini-batch SGD: a gradient-descent step on the current batch, then the next batch
/// is drawn. Returns the loss on the batch used.
template <StochasticObjective O, class Params>
typename Params::Scalar sgd_step(O& batches, Params& theta, double learning_rate) {
  const auto loss = gd_step(batches, theta, learning_rate);
  batches.next_batch();
  return loss;
}

}  // namespace symflow
