// SPDX-License-Identifier: MIT
#pragma once
/// \file What every integrator provides, and one step of any integrator.
///
/// An integrator (GradientDescent, Momentum, Adam, RungeKutta4, DormandPrince) is a small struct of
/// hyperparameters with
///  - `start(objective, θ)`: its state for a run from θ (workspace and memory such as a velocity),
///    sized once, so that steps do not allocate for fixed-size models;
///  - `advance(objective, state, θ, max_dt)`: moves θ by one step, given L and ∇L at θ in
///    `state.point`; returns how far in time it went (the caller counts steps and time in the state). The gradient-flow integrators shorten the
///    step to at most max_dt (to land on a time budget exactly).
/// `step(method, state, objective, θ)` evaluates and advances once, for hand-written loops;
/// `run(...)` drives many steps with observers and stopping rules.

#include <concepts>
#include <limits>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/stopping.hpp"

namespace symflow {

/// What every integrator state holds: the loss and gradient at the current θ.
template <class Params>
struct IntegratorState {
  using Scalar = typename Params::Scalar;
  LossAndGradient<Params> point;
  /// Steps taken and time reached with this state (across runs).
  Index steps = 0;
  Scalar time{0};
  /// Compensation of the summed step sizes (Kahan), so that many small steps add up exactly.
  Scalar time_carry{0};

  explicit IntegratorState(Index d) { point.gradient = Params::Zero(d); }
};

/// What one call of `advance` did.
template <class Scalar>
struct StepOutcome {
  /// The time step taken (the learning rate for the discrete methods).
  Scalar dt{0};
  /// Objective evaluations made inside the step.
  Index evaluations = 0;
  /// The step already evaluated L and ∇L at the new θ into state.point (first same as last).
  bool evaluated = false;
  /// The step was shortened to end exactly at max_dt.
  bool landed = false;
  /// Attempts rejected before the step was accepted (adaptive integration).
  Index rejected = 0;
  /// False when no step could be taken; θ is then unchanged and `failure` says why.
  bool ok = true;
  StopReason failure = StopReason::step_size_underflow;
  /// For StopReason::stalled: why and where.
  StallCause stall = StallCause::none;
  SwitchLocation where;
};

namespace detail {

/// Counts an accepted step in the state: one more step, and the time advanced by dt (or set to
/// `landing` when the step landed on a time budget).
template <class Params>
void account(IntegratorState<Params>& state, const StepOutcome<typename Params::Scalar>& out,
             typename Params::Scalar landing) {
  using Scalar = typename Params::Scalar;
  ++state.steps;
  if (out.landed) {
    state.time = landing;
    state.time_carry = Scalar(0);
    return;
  }
  const Scalar y = out.dt - state.time_carry;
  const Scalar t = state.time + y;
  state.time_carry = (t - state.time) - y;
  state.time = t;
}

/// Calls method.validate() when the integrator has one (it throws std::invalid_argument naming
/// a parameter out of range).
template <class M>
void validate_method(const M& method) {
  if constexpr (requires { method.validate(); }) method.validate();
}

}  // namespace detail

/// An integrator M that can run on the objective O.
template <class M, class O>
concept Integrator = DifferentiableObjective<O> &&
    requires(const M& m, const O& o, typename O::Params& theta, typename O::Scalar max_dt) {
      { m.start(o, theta) } -> std::derived_from<IntegratorState<typename O::Params>>;
      requires requires(decltype(m.start(o, theta)) & state) {
        { m.advance(o, state, theta, max_dt) } -> std::same_as<StepOutcome<typename O::Scalar>>;
      };
    };

/// One step of `method` from θ: evaluates L and ∇L at θ, moves θ, and for a stochastic objective
/// draws the next batch. Returns L(θ) before the step.
template <class M, class O, class State, class Params>
typename Params::Scalar step(const M& method, State& state, O& objective, Params& theta) {
  static_assert(Integrator<M, std::remove_const_t<O>>, "symflow::step: the method is not an integrator for this objective");
  using Scalar = typename Params::Scalar;
  detail::validate_method(method);
  detail::evaluate(objective, theta, state.point);
  const Scalar loss = state.point.loss;
  const StepOutcome<Scalar> out = method.advance(objective, state, theta, std::numeric_limits<Scalar>::infinity());
  if (out.ok) detail::account(state, out, Scalar(0));
  if constexpr (StochasticObjective<O>) objective.next_batch();
  return loss;
}

}  // namespace symflow
