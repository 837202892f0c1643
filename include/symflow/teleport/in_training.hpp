// SPDX-License-Identifier: MIT
#pragma once
/// \file Moving along the orbit during training, as integrators that wrap another one (so run(),
/// observers, stopping rules and traces work unchanged):
///
///  - TeleportEvery{method, k, teleport}: before step 0 (if at_start) and before every k-th step,
///    θ ← teleport(θ).theta (any of teleport_to_steepest/flattest/… bound to an objective and an
///    action by a lambda), then ∇L is re-evaluated and `method` (GradientDescent, Momentum, Adam; SGD
///    through a MiniBatchObjective) steps. The loss is unchanged by the teleport; the method's memory
///    (velocity, Adam's moments) carries over as it is, as in the symmetry-teleportation reference
///    code. The state records each teleport's report and the CPU time teleporting took.
///  - Restoring{method, action}: after every step of `method`, the group element nearest the
///    identity that brings the conserved quantity back to its value Q₀ at the start is applied
///    (per-unit closed form for scaling; Newton on symmetric steps from g = I for GL_h, which is the
///    nearest element to first order in the drift). Q-restoring descent for GradientDescent.

#include <chrono>
#include <ctime>
#include <type_traits>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"
#include "symflow/teleport/quantity_target.hpp"
#include "symflow/teleport/report.hpp"

namespace symflow {

namespace detail {

/// CPU seconds used by this process (both cores count).
inline double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

template <class R, class Params>
Params teleported_params(R&& r) {
  if constexpr (requires { r.theta; }) return std::forward<R>(r).theta;
  else return Params(std::forward<R>(r));
}

}  // namespace detail

/// The state of TeleportEvery and Restoring: the wrapped method's own state plus what the moves did.
template <class Inner>
struct TeleportingState : Inner {
  explicit TeleportingState(Inner inner) : Inner(std::move(inner)) {}
  /// Reports of the moves made, in order.
  std::vector<TeleportReport> reports;
  /// CPU seconds spent moving along orbits.
  double teleport_seconds = 0;
};

/// Teleports every `every` steps (and at the start), then steps with `method`.
template <class Method, class Teleport>
struct TeleportEvery {
  Method method;
  /// k ≥ 1: teleport before steps 0 (if at_start), k, 2k, …; 0: only at the start.
  Index every = 0;
  /// Callable θ ↦ Teleported<Action> (or θ ↦ Params).
  Teleport teleport;
  bool at_start = true;

  template <DifferentiableObjective O>
  auto start(const O& objective, const typename O::Params& theta) const {
    return TeleportingState<decltype(method.start(objective, theta))>(method.start(objective, theta));
  }

  template <DifferentiableObjective O, class Inner, class Params>
  StepOutcome<typename Params::Scalar> advance(const O& objective, TeleportingState<Inner>& state, Params& theta,
                                               typename Params::Scalar max_dt) const {
    const bool due = state.steps == 0 ? at_start : (every > 0 && state.steps % every == 0);
    Index extra = 0;
    if (due) {
      const double t0 = detail::cpu_seconds();
      auto r = teleport(std::as_const(theta));
      if constexpr (requires { r.report; }) state.reports.push_back(r.report);
      theta = detail::teleported_params<decltype(r), Params>(std::move(r));
      detail::evaluate(objective, theta, state.point);
      state.teleport_seconds += detail::cpu_seconds() - t0;
      extra = 1;
    }
    StepOutcome<typename Params::Scalar> out = method.advance(objective, static_cast<Inner&>(state), theta, max_dt);
    out.evaluations += extra;
    return out;
  }
};

template <class Method, class Teleport>
TeleportEvery(Method, Index, Teleport, bool = true) -> TeleportEvery<Method, Teleport>;

/// Steps with `method`, then restores the conserved quantity of `action` to its value at the start.
template <class Method, class Action>
struct Restoring {
  Method method;
  Action action;
  QuantityTargetOptions options{};

  template <class Inner>
  struct State : TeleportingState<Inner> {
    State(Inner inner, QuantityValue<Action> q) : TeleportingState<Inner>(std::move(inner)), q0(std::move(q)) {}
    /// Q₀, the quantity at the start of the run.
    QuantityValue<Action> q0;
  };

  template <DifferentiableObjective O>
  auto start(const O& objective, const typename O::Params& theta) const {
    using Inner = decltype(method.start(objective, theta));
    return State<Inner>(method.start(objective, theta), orbit_quantity(action, theta));
  }

  template <DifferentiableObjective O, class Inner, class Params>
  StepOutcome<typename Params::Scalar> advance(const O& objective, State<Inner>& state, Params& theta,
                                               typename Params::Scalar max_dt) const {
    StepOutcome<typename Params::Scalar> out = method.advance(objective, static_cast<Inner&>(state), theta, max_dt);
    if (!out.ok) return out;
    const double t0 = detail::cpu_seconds();
    auto r = teleport_to_quantity(action, theta, state.q0, options);
    if (r.reached()) theta = r.theta;
    state.reports.push_back(std::move(r.report));
    state.teleport_seconds += detail::cpu_seconds() - t0;
    // Restoring moves θ after the inner method evaluated anything at the new point.
    out.evaluated = false;
    return out;
  }
};

template <class Method, class Action>
Restoring(Method, Action) -> Restoring<Method, Action>;

}  // namespace symflow
