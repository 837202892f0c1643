// SPDX-License-Identifier: MIT
#pragma once
/// \file Gradient flow θ̇ = −∇L(θ) by the adaptive embedded Runge–Kutta method of Dormand and
/// Prince, RK5(4)7M (J. R. Dormand, P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19–26), with the
/// step-size control of Hairer, Nørsett & Wanner, Solving ODEs I, §II.4 (as in DOPRI5):
///
///  - seven stages; the fifth-order solution is propagated (local extrapolation), and its last stage
///    is the gradient at the new point, reused as the first stage of the next step (FSAL), so an
///    accepted step costs six evaluations;
///  - error estimate e = h Σ (b_i − b̂_i) g_i against the embedded fourth-order solution, measured
///    as err = √( (1/d) Σ_i (e_i / (atol + rtol · max(|θ_i|, |θ_new,i|)))² );
///  - the step is accepted when err ≤ 1; the next step size is h · min(max_factor,
///    max(min_factor, safety · err^(−(1/5 − 3β/4)) · err_prev^β)), with err_prev the error of the
///    last accepted step (Gustafsson's PI control as in DOPRI5, β = 0.04, which damps the
///    accept/reject cycles at the stability limit; β = 0 is the classical controller), not growing
///    right after a rejection; a rejected step shrinks by max(min_factor, safety · err^(−(1/5 − 3β/4)));
///  - the first step size is chosen automatically (Hairer's starting-step algorithm, one extra
///    evaluation) unless initial_step is given;
///  - a run stops with StopReason::step_size_underflow when h falls below 16ε|t| (or the smallest
///    normal number), and with too_many_rejections after max_rejections rejections in a row; a
///    non-finite error estimate (a stage overflowed) counts as a rejection with the smallest factor.

#include <algorithm>
#include <cmath>
#include <limits>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"

namespace symflow {

/// Adaptive Dormand–Prince 5(4) for gradient flow, with relative and absolute tolerances.
struct DormandPrince {
  double rtol = 1e-6;
  double atol = 1e-9;
  /// First step size; 0 chooses it automatically.
  double initial_step = 0.0;
  double max_step = std::numeric_limits<double>::infinity();
  double safety = 0.9;
  double min_factor = 0.2;
  double max_factor = 10.0;
  /// β of the PI step-size control (0.04 as in DOPRI5; 0 for the classical err^(−1/5) controller).
  double beta = 0.04;
  /// Rejected attempts in a row before the run stops.
  Index max_rejections = 100;

  template <class Params>
  struct State : IntegratorState<Params> {
    using Scalar = typename Params::Scalar;
    Params g2, g3, g4, g5, g6, stage, next;
    LossAndGradient<Params> at_next;
    /// The step size the next attempt will try (0 before the first step).
    Scalar h{0};
    /// The last attempt was rejected (the step after a rejection does not grow).
    bool after_rejection = false;
    /// The error of the last accepted step (for the PI control).
    Scalar previous_error{1e-4};
    State(Index d)
        : IntegratorState<Params>(d),
          g2(Params::Zero(d)), g3(Params::Zero(d)), g4(Params::Zero(d)), g5(Params::Zero(d)), g6(Params::Zero(d)),
          stage(Params::Zero(d)), next(Params::Zero(d)) {
      at_next.gradient = Params::Zero(d);
    }
  };

  template <DifferentiableObjective O>
  State<typename O::Params> start(const O&, const typename O::Params& theta) const {
    static_assert(!StochasticObjective<O>,
                  "symflow::DormandPrince integrates the gradient flow of a fixed objective; a mini-batch objective "
                  "changes between steps (use GradientDescent, Momentum or Adam)");
    return State<typename O::Params>(theta.size());
  }

  template <DifferentiableObjective O, class Params>
  StepOutcome<typename Params::Scalar> advance(const O& objective, State<Params>& s, Params& theta,
                                               typename Params::Scalar max_dt) const {
    using Scalar = typename Params::Scalar;
    using std::abs;
    using std::isfinite;
    using std::pow;
    using std::sqrt;
    // Butcher tableau (Dormand & Prince 1980), in terms of gradients g_i = −k_i.
    constexpr long double a21 = 1.0L / 5;
    constexpr long double a31 = 3.0L / 40, a32 = 9.0L / 40;
    constexpr long double a41 = 44.0L / 45, a42 = -56.0L / 15, a43 = 32.0L / 9;
    constexpr long double a51 = 19372.0L / 6561, a52 = -25360.0L / 2187, a53 = 64448.0L / 6561, a54 = -212.0L / 729;
    constexpr long double a61 = 9017.0L / 3168, a62 = -355.0L / 33, a63 = 46732.0L / 5247, a64 = 49.0L / 176,
                          a65 = -5103.0L / 18656;
    constexpr long double b1 = 35.0L / 384, b3 = 500.0L / 1113, b4 = 125.0L / 192, b5 = -2187.0L / 6784,
                          b6 = 11.0L / 84;
    // e_i = b_i − b̂_i (fifth minus embedded fourth order).
    constexpr long double e1 = 71.0L / 57600, e3 = -71.0L / 16695, e4 = 71.0L / 1920, e5 = -17253.0L / 339200,
                          e6 = 22.0L / 525, e7 = -1.0L / 40;
    const auto c = [](long double v) { return static_cast<Scalar>(v); };

    const Scalar rt = static_cast<Scalar>(rtol), at = static_cast<Scalar>(atol);
    const Scalar hmax = static_cast<Scalar>(max_step);
    const Scalar eps = std::numeric_limits<Scalar>::epsilon();
    const Params& g1 = s.point.gradient;
    StepOutcome<Scalar> out;
    if (s.h == Scalar(0)) {
      s.h = initial_step > 0 ? static_cast<Scalar>(initial_step) : starting_step(objective, s, theta);
      out.evaluations += initial_step > 0 ? 0 : 1;
    }
    Index rejected_in_a_row = 0;
    for (;;) {
      Scalar h = std::min(s.h, hmax);
      out.landed = false;
      if (max_dt <= Scalar(1.01) * h) {  // land on the time budget (Hairer: avoid a tiny last step)
        h = max_dt;
        out.landed = true;
      }
      s.stage = theta - h * c(a21) * g1;
      objective.value_and_gradient(s.stage, s.g2);
      s.stage = theta - h * (c(a31) * g1 + c(a32) * s.g2);
      objective.value_and_gradient(s.stage, s.g3);
      s.stage = theta - h * (c(a41) * g1 + c(a42) * s.g2 + c(a43) * s.g3);
      objective.value_and_gradient(s.stage, s.g4);
      s.stage = theta - h * (c(a51) * g1 + c(a52) * s.g2 + c(a53) * s.g3 + c(a54) * s.g4);
      objective.value_and_gradient(s.stage, s.g5);
      s.stage = theta - h * (c(a61) * g1 + c(a62) * s.g2 + c(a63) * s.g3 + c(a64) * s.g4 + c(a65) * s.g5);
      objective.value_and_gradient(s.stage, s.g6);
      s.next = theta - h * (c(b1) * g1 + c(b3) * s.g3 + c(b4) * s.g4 + c(b5) * s.g5 + c(b6) * s.g6);
      s.at_next.loss = objective.value_and_gradient(s.next, s.at_next.gradient);
      out.evaluations += 6;
      const Scalar err = sqrt(
          ((h * (c(e1) * g1 + c(e3) * s.g3 + c(e4) * s.g4 + c(e5) * s.g5 + c(e6) * s.g6 + c(e7) * s.at_next.gradient))
               .array() /
           (at + rt * theta.array().abs().max(s.next.array().abs())))
              .square()
              .mean());
      const bool accept = isfinite(err) && err <= Scalar(1) && s.next.allFinite();
      const Scalar b = static_cast<Scalar>(beta);
      const Scalar exponent = Scalar(0.2) - Scalar(0.75) * b;
      Scalar factor = isfinite(err) ? static_cast<Scalar>(safety) * pow(std::max(err, eps), -exponent)
                                    : static_cast<Scalar>(min_factor);
      if (accept) {
        factor *= pow(s.previous_error, b);
        s.previous_error = std::max(err, Scalar(1e-4));
      }
      factor = std::max(static_cast<Scalar>(min_factor), factor);
      if (accept) {
        factor = std::min(factor, s.after_rejection ? Scalar(1) : static_cast<Scalar>(max_factor));
        theta.swap(s.next);  // θ ← θ_new (swap: no copy)
        s.point.loss = s.at_next.loss;
        s.point.gradient.swap(s.at_next.gradient);
        s.h = h * factor;
        s.after_rejection = false;
        out.dt = h;
        out.evaluated = true;
        return out;
      }
      // Rejected: retry from θ with a smaller step.
      ++out.rejected;
      ++rejected_in_a_row;
      s.after_rejection = true;
      s.h = h * std::min(factor, Scalar(1));
      if (rejected_in_a_row >= max_rejections) return fail(out, StopReason::too_many_rejections, s.h);
      if (s.h <= Scalar(16) * eps * abs(s.time) || s.h < std::numeric_limits<Scalar>::min())
        return fail(out, StopReason::step_size_underflow, s.h);
    }
  }

 private:
  template <class Scalar>
  static StepOutcome<Scalar> fail(StepOutcome<Scalar> out, StopReason why, Scalar h) {
    out.ok = false;
    out.failure = why;
    out.dt = h;
    out.landed = false;
    return out;
  }

  /// Hairer, Nørsett & Wanner's starting step for a method of order 5 (one evaluation).
  template <class O, class Params>
  typename Params::Scalar starting_step(const O& objective, State<Params>& s, const Params& theta) const {
    using Scalar = typename Params::Scalar;
    using std::pow;
    using std::sqrt;
    const Scalar rt = static_cast<Scalar>(rtol), at = static_cast<Scalar>(atol);
    const auto scale = (at + rt * theta.array().abs()).eval();
    const Params& g1 = s.point.gradient;
    const Scalar d0 = sqrt((theta.array() / scale).square().mean());
    const Scalar d1 = sqrt((g1.array() / scale).square().mean());
    Scalar h0 = (d0 < Scalar(1e-5) || d1 < Scalar(1e-5)) ? Scalar(1e-6) : Scalar(0.01) * d0 / d1;
    h0 = std::min(h0, static_cast<Scalar>(max_step));
    s.stage = theta - h0 * g1;
    objective.value_and_gradient(s.stage, s.g2);
    const Scalar d2 = sqrt(((s.g2 - g1).array() / scale).square().mean()) / h0;
    using std::isfinite;
    const Scalar dmax = std::max(d1, d2);
    Scalar h1 = (!isfinite(dmax)) ? h0 * Scalar(1e-3)
                : dmax <= Scalar(1e-15) ? std::max(Scalar(1e-6), h0 * Scalar(1e-3))
                                        : pow(Scalar(0.01) / dmax, Scalar(0.2));
    return std::min({Scalar(100) * h0, h1, static_cast<Scalar>(max_step)});
  }
};

}  // namespace symflow
