// SPDX-License-Identifier: MIT
#pragma once
/// \file What an integrator needs from an objective: a loss L(θ) and its gradient ∇L(θ), in one call.
///
/// symflow::Objective and symflow::MiniBatchObjective satisfy it, and so does any user type with
/// the nested types Scalar and Params and the member `Scalar value_and_gradient(const Params& θ,
/// Params& grad) const`, which returns L(θ) and writes ∇L(θ) into grad.

#include <concepts>

#include "symflow/core/config.hpp"

namespace symflow {

/// An objective the integrators can run on: L(θ) and ∇L(θ) from one call.
template <class O>
concept DifferentiableObjective = requires(const O& o, const typename O::Params& p, typename O::Params& g) {
  typename O::Scalar;
  typename O::Params;
  { o.value_and_gradient(p, g) } -> std::convertible_to<typename O::Scalar>;
};

/// An objective that changes between steps (a new mini-batch each step): `next_batch()` moves it
/// on. Integrators call it after every step, before evaluating at the new parameters.
template <class O>
concept StochasticObjective = DifferentiableObjective<O> && requires(O& o) { o.next_batch(); };

/// The loss and the gradient at one point θ, kept together so that a step can reuse them.
template <class Params>
struct LossAndGradient {
  using Scalar = typename Params::Scalar;
  Scalar loss{0};
  Params gradient;
};

namespace detail {

/// L(θ) and ∇L(θ) into `at` (sizing the gradient for dynamic parameter vectors).
template <class O, class Params>
void evaluate(const O& objective, const Params& theta, LossAndGradient<Params>& at) {
  if constexpr (Params::SizeAtCompileTime == Dynamic) {
    if (at.gradient.size() != theta.size()) at.gradient.resize(theta.size());
  }
  at.loss = objective.value_and_gradient(theta, at.gradient);
}

}  // namespace detail
}  // namespace symflow
