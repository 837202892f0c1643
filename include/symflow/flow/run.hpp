// SPDX-License-Identifier: MIT
#pragma once
/// \file run: drives an integrator from θ with observers and stopping rules.
///
/// At every step, on θ_t with L(θ_t) and ∇L(θ_t) evaluated once:
///  1. divergence: a non-finite entry of θ, a non-finite loss, a non-finite entry of ∇L (checked in
///     that order) or a loss blow-up stops the run at once; observers do not see that point, and θ is
///     left where the divergence was found;
///  2. tolerances and budgets (loss, gradient norm, steps, time, wall clock) decide whether θ_t is
///     the last point;
///  3. the observers see θ_t (with `last` set on the last point); any may return Signal::stop;
///  4. unless stopping, the integrator moves θ to θ_{t+1}; a stochastic objective draws its next
///     batch; L and ∇L are evaluated at θ_{t+1} (integrators that already did, reuse theirs).
/// So an observer sees every point the run visits once, from θ_0 on, and the status reports the
/// step and time of the point where the run stopped. Steps and time are counted in the integrator
/// state, so a run continued with the same state goes on counting; the budgets `max_steps` and
/// `max_time` are amounts for this call.

#include <chrono>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"
#include "symflow/flow/observer.hpp"
#include "symflow/flow/stopping.hpp"

namespace symflow {

namespace detail {

/// First index of a non-finite entry, or −1.
template <class V>
Index first_non_finite(const V& v) {
  if (v.allFinite()) return -1;
  using std::isfinite;
  for (Index i = 0; i < v.size(); ++i)
    if (!isfinite(v[i])) return i;
  return -1;
}

}  // namespace detail

/// Continues a run with an existing integrator state (from `method.start(objective, θ)` or an
/// earlier run), so that memory such as Adam's moments carries over between calls.
template <class Method, class State, class O, class Params, class... Observers>
RunStatus<typename Params::Scalar> run(const Method& method, State& state, O&& objective, Params& theta,
                                       const Stopping& stop, Observers&&... observers) {
  using Obj = std::remove_cvref_t<O>;
  using Scalar = typename Params::Scalar;
  static_assert(DifferentiableObjective<Obj>,
                "symflow::run: the objective must provide Scalar, Params and value_and_gradient(theta, grad)");
  static_assert(std::is_same_v<Params, typename Obj::Params>,
                "symflow::run: θ must have the objective's Params type");
  static_assert(Integrator<Method, Obj>, "symflow::run: the method is not an integrator (start/advance) for this objective");
  static_assert(!StochasticObjective<Obj> || !std::is_const_v<std::remove_reference_t<O>>,
                "symflow::run: a mini-batch objective must be passed as a non-const lvalue (it draws batches)");
  using std::abs;
  using std::isfinite;

  stop.validate();
  detail::validate_method(method);
  const auto clock_start = std::chrono::steady_clock::now();
  const Scalar eps = std::numeric_limits<Scalar>::epsilon();
  const bool timed = isfinite(stop.max_time);
  const bool wall_timed = isfinite(stop.max_seconds);
  const Index first_step = state.steps;
  const Scalar end_time = timed ? state.time + static_cast<Scalar>(stop.max_time) : std::numeric_limits<Scalar>::infinity();

  RunStatus<Scalar> status;
  status.max_steps = stop.max_steps;
  Scalar step_size(0);
  detail::evaluate(objective, theta, state.point);
  status.evaluations = 1;
  const Scalar reference = std::max(abs(state.point.loss), static_cast<Scalar>(stop.blow_up_floor));
  const Scalar blow_up = static_cast<Scalar>(stop.blow_up_factor) * reference;
  const bool check_blow_up = isfinite(reference) && reference > Scalar(0) && stop.blow_up_factor > 0;

  for (;;) {
    status.step = state.steps;
    status.time = state.time;
    status.loss = state.point.loss;
    status.last_step_size = step_size;
    const auto& grad = state.point.gradient;
    // 1. Divergence.
    if (const Index i = detail::first_non_finite(theta); i >= 0) {
      status.reason = StopReason::non_finite_parameter;
      status.index = i;
      status.value = theta[i];
      break;
    }
    if (!isfinite(state.point.loss)) {
      status.reason = StopReason::non_finite_loss;
      status.value = state.point.loss;
      break;
    }
    if (const Index i = detail::first_non_finite(grad); i >= 0) {
      status.reason = StopReason::non_finite_gradient;
      status.index = i;
      status.value = grad[i];
      break;
    }
    if (check_blow_up && state.point.loss > blow_up) {
      status.reason = StopReason::loss_blow_up;
      status.value = state.point.loss;
      status.threshold = blow_up;
      break;
    }
    // 2. Tolerances and budgets.
    bool last = true;
    if (state.point.loss <= static_cast<Scalar>(stop.loss_tolerance)) {
      status.reason = StopReason::loss_tolerance;
      status.value = state.point.loss;
    } else if (stop.gradient_tolerance >= 0 && grad.norm() <= static_cast<Scalar>(stop.gradient_tolerance)) {
      status.reason = StopReason::gradient_tolerance;
      status.value = grad.norm();
    } else if (state.steps - first_step >= stop.max_steps) {
      status.reason = StopReason::step_budget;
    } else if (timed && state.time >= end_time - Scalar(4) * eps * abs(end_time)) {
      status.reason = StopReason::time_budget;
    } else if (wall_timed && std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count() >=
                                 stop.max_seconds) {
      status.reason = StopReason::wall_clock_budget;
    } else {
      last = false;
    }
    // 3. Observers.
    bool asked_to_stop = false;
    if constexpr (sizeof...(Observers) > 0) {
      const Snapshot<Params> snapshot{state.steps, state.time, theta, state.point.loss, grad, step_size, last};
      ((asked_to_stop = (detail::notify(observers, snapshot, state) == Signal::stop) || asked_to_stop), ...);
    }
    if (last) break;
    if (asked_to_stop) {
      status.reason = StopReason::observer;
      break;
    }
    // 4. Step.
    const StepOutcome<Scalar> out = method.advance(objective, state, theta, end_time - state.time);
    status.evaluations += out.evaluations;
    status.rejected_steps += out.rejected;
    if (!out.ok) {
      status.reason = out.failure;
      status.value = out.dt;
      status.stall = out.stall;
      status.where = out.where;
      break;
    }
    step_size = out.dt;
    detail::account(state, out, end_time);
    if (!out.evaluated) {
      if constexpr (StochasticObjective<Obj>) objective.next_batch();
      detail::evaluate(objective, theta, state.point);
      ++status.evaluations;
    }
  }
  return status;
}

/// Runs `method` on `objective` from θ (updated in place) until a stopping rule fires; calls each
/// observer at every point. Returns where and why the run stopped.
template <class Method, class O, class Params, class... Observers>
RunStatus<typename Params::Scalar> run(const Method& method, O&& objective, Params& theta, const Stopping& stop,
                                       Observers&&... observers) {
  auto state = method.start(std::as_const(objective), theta);
  return run(method, state, std::forward<O>(objective), theta, stop, std::forward<Observers>(observers)...);
}

}  // namespace symflow
