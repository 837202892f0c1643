// SPDX-License-Identifier: MIT
#pragma once
/// \file When a run stops and why: the stopping rules (budgets, tolerances, divergence) and the
/// status a run returns, which says where it stopped (step, time) and why (which rule, and for
/// divergence which quantity, which entry and which value).

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "symflow/core/config.hpp"

namespace symflow {

/// Why a run stopped.
enum class StopReason {
  step_budget,           ///< the step budget `max_steps` was used up
  time_budget,           ///< the time `max_time` was reached
  wall_clock_budget,     ///< `max_seconds` of wall-clock time passed
  loss_tolerance,        ///< L(θ) ≤ `loss_tolerance`
  gradient_tolerance,    ///< ‖∇L(θ)‖₂ ≤ `gradient_tolerance`
  observer,              ///< an observer returned Signal::stop
  non_finite_loss,       ///< divergence: L(θ) is NaN or ±∞
  non_finite_gradient,   ///< divergence: an entry of ∇L(θ) is NaN or ±∞
  non_finite_parameter,  ///< divergence: an entry of θ is NaN or ±∞
  loss_blow_up,          ///< divergence: L(θ) > blow_up_factor · max(|L(θ₀)|, blow_up_floor)
  step_size_underflow,   ///< adaptive integration: the step size fell below what the time can resolve
  too_many_rejections,   ///< adaptive integration: `max_rejections` rejected attempts in a row
  stalled,               ///< adaptive integration: no progress at a kink (`RunStatus::stall` says why, `where` where)
};

/// Why an adaptive integration stalled at a kink of a piecewise-linear network.
enum class StallCause {
  none,
  chattering,          ///< `max_rejections` switching events in a row without the time advancing
  curved_sliding,      ///< the flow slides along a kink of a deeper hidden layer (not integrated)
  dependent_sliding,   ///< the flow slides along more kinks of one unit than their normals span
};

/// Where a switching surface lies: the pre-activation of `unit` (0-based) in hidden `layer` (1 is
/// the first hidden layer) on `sample` (a column of X).
struct SwitchLocation {
  int layer = 0;
  Index unit = -1;
  Index sample = -1;
};

/// A short name for the reason, e.g. "non_finite_gradient".
inline const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::step_budget: return "step_budget";
    case StopReason::time_budget: return "time_budget";
    case StopReason::wall_clock_budget: return "wall_clock_budget";
    case StopReason::loss_tolerance: return "loss_tolerance";
    case StopReason::gradient_tolerance: return "gradient_tolerance";
    case StopReason::observer: return "observer";
    case StopReason::non_finite_loss: return "non_finite_loss";
    case StopReason::non_finite_gradient: return "non_finite_gradient";
    case StopReason::non_finite_parameter: return "non_finite_parameter";
    case StopReason::loss_blow_up: return "loss_blow_up";
    case StopReason::step_size_underflow: return "step_size_underflow";
    case StopReason::too_many_rejections: return "too_many_rejections";
    case StopReason::stalled: return "stalled";
  }
  return "unknown";
}

/// True for the reasons that mean the iteration diverged (non-finite values or a loss blow-up).
constexpr bool is_divergence(StopReason r) {
  return r == StopReason::non_finite_loss || r == StopReason::non_finite_gradient ||
         r == StopReason::non_finite_parameter || r == StopReason::loss_blow_up;
}

namespace detail {

/// Throws std::invalid_argument "symflow::<who>: <name> is <value>, expected <expected>" unless ok.
inline void require_parameter(bool ok, const char* who, const char* name, double value, const char* expected) {
  if (ok) return;
  std::ostringstream s;
  s.precision(17);
  s << "symflow::" << who << ": " << name << " is " << value << ", expected " << expected;
  throw std::invalid_argument(s.str());
}

}  // namespace detail

/// When to stop a run. Every rule is checked at every step, on the loss and gradient at the
/// current parameters, before the observers see them; the first rule that fires stops the run.
/// Time is the flow time for the gradient-flow integrators and the sum of learning rates for the
/// discrete methods. Set a rule to its default to switch it off (except `max_steps`, whose
/// default of 1000 steps always applies: a run that ends on it says "step budget max_steps = 1000
/// used up"). run() refuses a NaN anywhere and a negative budget, naming the field.
struct Stopping {
  /// Steps to take at most (default 1000), ≥ 0.
  Index max_steps = 1000;
  /// Time to reach; the gradient-flow integrators shorten their last step to land on it exactly.
  double max_time = std::numeric_limits<double>::infinity();
  /// Wall-clock seconds at most.
  double max_seconds = std::numeric_limits<double>::infinity();
  /// Stop (converged) once L(θ) ≤ loss_tolerance.
  double loss_tolerance = -std::numeric_limits<double>::infinity();
  /// Stop (converged) once ‖∇L(θ)‖₂ ≤ gradient_tolerance.
  double gradient_tolerance = -1.0;
  /// Divergence: L(θ) > blow_up_factor · max(|L(θ₀)|, blow_up_floor). Off when the reference is 0.
  /// Set blow_up_factor to 0 to switch the rule off.
  double blow_up_factor = 1e6;
  double blow_up_floor = 0.0;

  /// Throws std::invalid_argument naming the first field that is NaN or out of range.
  void validate() const {
    using std::isnan;
    detail::require_parameter(max_steps >= 0, "Stopping", "max_steps", static_cast<double>(max_steps), "a count >= 0");
    detail::require_parameter(max_time >= 0, "Stopping", "max_time", max_time, ">= 0 (infinity: no time budget)");
    detail::require_parameter(max_seconds >= 0, "Stopping", "max_seconds", max_seconds,
                              ">= 0 (infinity: no wall-clock budget)");
    detail::require_parameter(!isnan(loss_tolerance), "Stopping", "loss_tolerance", loss_tolerance,
                              "a number (-infinity: off)");
    detail::require_parameter(!isnan(gradient_tolerance), "Stopping", "gradient_tolerance", gradient_tolerance,
                              "a number (negative: off)");
    detail::require_parameter(blow_up_factor >= 0, "Stopping", "blow_up_factor", blow_up_factor, ">= 0 (0: off)");
    detail::require_parameter(blow_up_floor >= 0 && blow_up_floor < std::numeric_limits<double>::infinity(), "Stopping",
                              "blow_up_floor", blow_up_floor, "a finite number >= 0");
  }
};

/// The outcome of a run: where it stopped, why, and what it cost.
template <class Scalar>
struct RunStatus {
  StopReason reason = StopReason::step_budget;
  /// Steps taken (accepted steps for adaptive integration); θ is θ_step.
  Index step = 0;
  /// Time reached.
  Scalar time{0};
  /// L(θ) at the point where the run stopped (NaN or ∞ for a non-finite loss).
  Scalar loss{0};
  /// For divergence: the offending value (the loss, or the non-finite entry of ∇L or θ); for the
  /// tolerances: the value that met them; for step-size underflow: the step size.
  Scalar value{0};
  /// For a non-finite gradient or parameter: the index of the first non-finite entry; else −1.
  Index index = -1;
  /// For a loss blow-up: the threshold that was exceeded.
  Scalar threshold{0};
  /// Objective evaluations (calls of value_and_gradient).
  Index evaluations = 0;
  /// Rejected step attempts (adaptive integration only).
  Index rejected_steps = 0;
  /// The size of the last step taken.
  Scalar last_step_size{0};
  /// The step budget of the run (Stopping::max_steps), named when it ends the run.
  Index max_steps = 0;
  /// For a stall: why, where (which kink), and in `value` the time it was reached.
  StallCause stall = StallCause::none;
  SwitchLocation where;

  /// Accepted steps (the same as `step`).
  Index accepted_steps() const { return step; }
  bool diverged() const { return is_divergence(reason); }
  /// The loss or gradient tolerance was met.
  bool converged() const { return reason == StopReason::loss_tolerance || reason == StopReason::gradient_tolerance; }
  /// A human-readable sentence, e.g. "diverged at step 12 (t = 1.2): gradient entry 7 is nan".
  std::string message() const {
    std::ostringstream s;
    s.precision(std::numeric_limits<Scalar>::max_digits10);
    const auto v = static_cast<long double>(value);
    const char* verb = diverged() ? "diverged" : (converged() ? "converged" : "stopped");
    s << verb << " at step " << step << " (t = " << static_cast<long double>(time) << "): ";
    switch (reason) {
      case StopReason::step_budget: s << "step budget max_steps = " << max_steps << " used up"; break;
      case StopReason::time_budget: s << "time budget reached"; break;
      case StopReason::wall_clock_budget: s << "wall-clock budget used up"; break;
      case StopReason::loss_tolerance: s << "loss " << v << " within tolerance"; break;
      case StopReason::gradient_tolerance: s << "gradient norm " << v << " within tolerance"; break;
      case StopReason::observer: s << "an observer asked to stop"; break;
      case StopReason::non_finite_loss: s << "loss is " << v; break;
      case StopReason::non_finite_gradient: s << "gradient entry " << index << " is " << v; break;
      case StopReason::non_finite_parameter: s << "parameter entry " << index << " is " << v; break;
      case StopReason::loss_blow_up:
        s << "loss " << v << " exceeds the blow-up threshold " << static_cast<long double>(threshold);
        break;
      case StopReason::step_size_underflow: s << "step size " << v << " underflows the time"; break;
      case StopReason::too_many_rejections: s << "too many rejected steps in a row (last step size " << v << ")"; break;
      case StopReason::stalled:
        switch (stall) {
          case StallCause::chattering: s << "chattering: switching events without progress"; break;
          case StallCause::curved_sliding: s << "the flow slides along a kink of a deeper layer (not integrated)"; break;
          case StallCause::dependent_sliding: s << "the flow slides along more kinks of one unit than are independent"; break;
          case StallCause::none: s << "no progress"; break;
        }
        s << " at t = " << v << ", pre-activation of hidden layer " << where.layer << ", unit " << where.unit
          << ", sample " << where.sample;
        break;
    }
    return s.str();
  }
};

}  // namespace symflow
