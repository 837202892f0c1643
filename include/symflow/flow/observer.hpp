// SPDX-License-Identifier: MIT
#pragma once
/// \file Observers: callables that a run calls at every step with the step, the time, θ, L(θ) and
/// ∇L(θ). An observer may return Signal::stop to end the run.
///
/// Accepted forms, checked in this order:
///  - `f(const Snapshot<Params>& s, const State& state)`: also sees the integrator's state (e.g.
///    the momentum velocity);
///  - `f(const Snapshot<Params>& s)`;
///  - `f(Index step, Scalar time, const Params& θ, Scalar loss, const Params& gradient)`.
/// Each may return void or Signal.

#include <concepts>
#include <type_traits>

#include "symflow/core/config.hpp"

namespace symflow {

/// What an observer returns to let the run go on or to stop it.
enum class Signal { proceed, stop };

/// One point of a run as an observer sees it: θ_step at time `time`, with L(θ) and ∇L(θ) at that
/// same point (for mini-batch objectives, on the batch the next step uses).
template <class Params>
struct Snapshot {
  using Scalar = typename Params::Scalar;
  Index step;
  Scalar time;
  const Params& theta;
  Scalar loss;
  const Params& gradient;
  /// The size of the step that led here (0 at the start).
  Scalar step_size;
  /// True for the last point of the run (the run stops after the observers see it).
  bool last;
};

namespace detail {

template <class R>
Signal as_signal(R&& r) {
  if constexpr (std::is_same_v<std::remove_cvref_t<R>, Signal>) return r;
  else return Signal::proceed;
}

template <class F, class Params, class State>
Signal notify(F& f, const Snapshot<Params>& s, const State& state) {
  using Scalar = typename Params::Scalar;
  if constexpr (std::invocable<F&, const Snapshot<Params>&, const State&>) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const Snapshot<Params>&, const State&>>) {
      f(s, state);
      return Signal::proceed;
    } else {
      return as_signal(f(s, state));
    }
  } else if constexpr (std::invocable<F&, const Snapshot<Params>&>) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const Snapshot<Params>&>>) {
      f(s);
      return Signal::proceed;
    } else {
      return as_signal(f(s));
    }
  } else {
    static_assert(std::invocable<F&, Index, Scalar, const Params&, Scalar, const Params&>,
                  "symflow: an observer must be callable as f(snapshot), f(snapshot, state) or "
                  "f(step, time, theta, loss, gradient)");
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Index, Scalar, const Params&, Scalar, const Params&>>) {
      f(s.step, s.time, s.theta, s.loss, s.gradient);
      return Signal::proceed;
    } else {
      return as_signal(f(s.step, s.time, s.theta, s.loss, s.gradient));
    }
  }
}

}  // namespace detail
}  // namespace symflow
