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
#include <sstream>
#include <stdexcept>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/integrator.hpp"
#include "symflow/flow/switching.hpp"

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

  /// Locate the kinks of a piecewise-linear network (ReLU, LeakyReLU) and step from kink to kink;
  /// false integrates across them as across any other point (the steps then shrink at each kink).
  bool locate_kinks = true;

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

  /// The state on a piecewise-linear network: the current piece (side of every kink, sliding set),
  /// the field of that piece at θ, and the dense output of the last step.
  template <class O>
  struct SwitchedState : State<typename O::Params> {
    using Params = typename O::Params;
    using Vector = typename SwitchingSurfaces<O>::Vector;
    SwitchingSurfaces<O> surfaces;
    /// −θ̇ of the current piece at `at` (projected onto sliding kinks), first stage of the next step.
    Params field, at;
    /// Dense output θ(t + σh) = θ + σ(r2 + (1 − σ)(r3 + σ(r4 + (1 − σ) r5))), and a point on it.
    Params r2, r3, r4, r5, probe;
    Vector z_start, lambda_start, z_lo, lambda_lo;
    bool ready = false;
    /// Kink events in a row that did not advance the time.
    Index events_in_place = 0;
    SwitchedState(const O& objective, Index d)
        : State<Params>(d), surfaces(objective), field(Params::Zero(d)), at(Params::Zero(d)), r2(Params::Zero(d)),
          r3(Params::Zero(d)), r4(Params::Zero(d)), r5(Params::Zero(d)), probe(Params::Zero(d)),
          z_start(Vector::Zero(surfaces.count())), lambda_start(Vector::Zero(surfaces.count())),
          z_lo(Vector::Zero(surfaces.count())), lambda_lo(Vector::Zero(surfaces.count())) {}
  };

  /// Checks every parameter (std::invalid_argument naming it), then sizes the state.
  template <DifferentiableObjective O>
  auto start(const O& objective, const typename O::Params& theta) const {
    static_assert(!StochasticObjective<O>,
                  "symflow::DormandPrince integrates the gradient flow of a fixed objective; a mini-batch objective "
                  "changes between steps (use GradientDescent, Momentum or Adam)");
    validate();
    if constexpr (PiecewiseLinearObjective<O>) return SwitchedState<O>(objective, theta.size());
    else return State<typename O::Params>(theta.size());
  }

  /// Throws std::invalid_argument naming the first parameter out of its domain.
  void validate() const {
    using std::isfinite;
    require("rtol", rtol, isfinite(rtol) && rtol > 0, "a finite number > 0");
    require("atol", atol, isfinite(atol) && atol > 0, "a finite number > 0");
    require("initial_step", initial_step, isfinite(initial_step) && initial_step >= 0, "a finite number >= 0 (0: automatic)");
    require("max_step", max_step, max_step > 0, "a number > 0 (infinity: no cap)");
    require("safety", safety, safety > 0 && safety <= 1, "in (0, 1]");
    require("min_factor", min_factor, min_factor > 0 && min_factor <= 1, "in (0, 1]");
    require("max_factor", max_factor, isfinite(max_factor) && max_factor >= 1, "a finite number >= 1");
    require("beta", beta, beta >= 0 && beta <= 0.2, "in [0, 0.2]");
    require("max_rejections", static_cast<double>(max_rejections), max_rejections >= 1, "an integer >= 1");
  }

  template <DifferentiableObjective O, class Params>
  StepOutcome<typename Params::Scalar> advance(const O& objective, State<Params>& s, Params& theta,
                                               typename Params::Scalar max_dt) const {
    const auto eval = [&](const Params& p, Params& g) { return objective.value_and_gradient(p, g); };
    return adaptive_step(objective, s, theta, max_dt, s.point.gradient, eval,
                         [&](typename Params::Scalar, StepOutcome<typename Params::Scalar>& out) {
                           theta.swap(s.next);  // θ ← θ_new (swap: no copy)
                           s.point.loss = s.at_next.loss;
                           s.point.gradient.swap(s.at_next.gradient);
                           return out;
                         });
  }

  /// A step on a piecewise-linear network: the stages use the smooth piece of the region θ is in
  /// (projected onto the kinks it slides on); when the step ends past a kink, the crossing is found
  /// on the dense output and the step ends there, and the next one starts on the new piece.
  template <PiecewiseLinearObjective O>
  StepOutcome<typename O::Scalar> advance(const O& objective, SwitchedState<O>& s, typename O::Params& theta,
                                          typename O::Scalar max_dt) const {
    using Params = typename O::Params;
    using Scalar = typename O::Scalar;
    auto& kinks = s.surfaces;
    if (!locate_kinks || !kinks.kinked()) return advance(objective, static_cast<State<Params>&>(s), theta, max_dt);
    Index evaluations = 0;
    if (!s.ready || theta != s.at) {  // a new run, or θ moved by someone else: sides from the signs at θ
      kinks.reset(objective, theta);
      s.point.loss = kinks.evaluate(objective, theta, s.field);
      ++evaluations;
      s.ready = true;
      s.at = theta;
      s.events_in_place = 0;
    }
    s.point.gradient = s.field;
    s.z_start = kinks.values();
    s.lambda_start = kinks.weights();
    const auto eval = [&](const Params& p, Params& g) { return kinks.evaluate(objective, p, g); };
    StepOutcome<Scalar> out = adaptive_step(objective, s, theta, max_dt, s.field, eval,
                                            [&](Scalar h, StepOutcome<Scalar>& accepted) {
                                              return end_at_kink(objective, s, theta, h, accepted);
                                            });
    out.evaluations += evaluations;
    return out;
  }

 private:
  static void require(const char* name, double value, bool ok, const char* expected) {
    if (ok) return;
    std::ostringstream m;
    m.precision(17);
    m << "symflow::DormandPrince: " << name << " is " << value << ", expected " << expected;
    throw std::invalid_argument(m.str());
  }

  /// One accepted step of the embedded pair from θ with first stage g1, the other stages from
  /// `eval`; `accept(h, out)` moves θ to the new point (s.next, with L and ∇L in s.at_next).
  template <class O, class Params, class Eval, class Accept>
  StepOutcome<typename Params::Scalar> adaptive_step(const O& objective, State<Params>& s, Params& theta,
                                                     typename Params::Scalar max_dt, const Params& g1, const Eval& eval,
                                                     const Accept& accept) const {
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
      eval(s.stage, s.g2);
      s.stage = theta - h * (c(a31) * g1 + c(a32) * s.g2);
      eval(s.stage, s.g3);
      s.stage = theta - h * (c(a41) * g1 + c(a42) * s.g2 + c(a43) * s.g3);
      eval(s.stage, s.g4);
      s.stage = theta - h * (c(a51) * g1 + c(a52) * s.g2 + c(a53) * s.g3 + c(a54) * s.g4);
      eval(s.stage, s.g5);
      s.stage = theta - h * (c(a61) * g1 + c(a62) * s.g2 + c(a63) * s.g3 + c(a64) * s.g4 + c(a65) * s.g5);
      eval(s.stage, s.g6);
      s.next = theta - h * (c(b1) * g1 + c(b3) * s.g3 + c(b4) * s.g4 + c(b5) * s.g5 + c(b6) * s.g6);
      s.at_next.loss = eval(s.next, s.at_next.gradient);
      out.evaluations += 6;
      const Scalar err = sqrt(
          ((h * (c(e1) * g1 + c(e3) * s.g3 + c(e4) * s.g4 + c(e5) * s.g5 + c(e6) * s.g6 + c(e7) * s.at_next.gradient))
               .array() /
           (at + rt * theta.array().abs().max(s.next.array().abs())))
              .square()
              .mean());
      const bool accepted = isfinite(err) && err <= Scalar(1) && s.next.allFinite();
      const Scalar b = static_cast<Scalar>(beta);
      const Scalar exponent = Scalar(0.2) - Scalar(0.75) * b;
      Scalar factor = isfinite(err) ? static_cast<Scalar>(safety) * pow(std::max(err, eps), -exponent)
                                    : static_cast<Scalar>(min_factor);
      if (accepted) {
        factor *= pow(s.previous_error, b);
        s.previous_error = std::max(err, Scalar(1e-4));
      }
      factor = std::max(static_cast<Scalar>(min_factor), factor);
      if (accepted) {
        factor = std::min(factor, s.after_rejection ? Scalar(1) : static_cast<Scalar>(max_factor));
        s.h = h * factor;
        s.after_rejection = false;
        out.dt = h;
        out.evaluated = true;
        return accept(h, out);
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

  /// After an accepted step of size h on a piecewise-linear network: if some kink was crossed (or
  /// a sliding weight left [0, 1]), finds the first such event on the dense output (Illinois on its
  /// event function, switching to any other that turns negative earlier), ends the step there and
  /// chooses the next piece: cross, slide (both sides push into the kink), or stay (a graze).
  template <class O, class Params = typename O::Params>
  StepOutcome<typename O::Scalar> end_at_kink(const O& objective, SwitchedState<O>& s, Params& theta,
                                              typename O::Scalar h, StepOutcome<typename O::Scalar>& out) const {
    using Scalar = typename O::Scalar;
    using std::abs;
    auto& kinks = s.surfaces;
    Index target = kinks.most_violated();
    if (target < 0) {
      theta.swap(s.next);
      s.point.loss = s.at_next.loss;
      s.field.swap(s.at_next.gradient);
      s.point.gradient = s.field;
      s.at = theta;
      s.events_in_place = 0;
      return out;
    }
    // Hairer's continuous extension of DOPRI5 (order 4), in terms of gradients g_i = −k_i.
    constexpr long double d1 = -12715105075.0L / 11282082432, d3 = 87487479700.0L / 32700410799,
                          d4 = -10690763975.0L / 1880347072, d5 = 701980252875.0L / 199316789632,
                          d6 = -1453857185.0L / 822651844, d7 = 69997945.0L / 29380423;
    const auto c = [](long double v) { return static_cast<Scalar>(v); };
    const Params& g7 = s.at_next.gradient;
    s.r2 = s.next - theta;
    s.r3 = -h * s.field - s.r2;
    s.r4 = s.r2 + h * g7 - s.r3;
    s.r5 = -h * (c(d1) * s.field + c(d3) * s.g3 + c(d4) * s.g4 + c(d5) * s.g5 + c(d6) * s.g6 + c(d7) * g7);
    const auto dense = [&](Scalar sigma) {
      s.probe = theta + sigma * (s.r2 + (Scalar(1) - sigma) * (s.r3 + sigma * (s.r4 + (Scalar(1) - sigma) * s.r5)));
    };
    const Scalar eps = std::numeric_limits<Scalar>::epsilon();
    Scalar lo(0), hi(1);
    Scalar f_hi = kinks.event(target);
    s.z_lo = s.z_start;
    s.lambda_lo = s.lambda_start;
    Scalar f_lo = std::max(kinks.event(target, s.z_lo, s.lambda_lo), Scalar(0));
    int kept = 0;  // which end the last iterate left in place: +1 lo, −1 hi (Illinois halves its value)
    for (int iteration = 0; iteration < 200 && hi - lo > Scalar(4) * eps; ++iteration) {
      Scalar sigma = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
      if (!(sigma > lo && sigma < hi)) sigma = (lo + hi) / Scalar(2);
      dense(sigma);
      if (kinks.any_sliding()) kinks.evaluate(objective, s.probe, s.g2);
      else kinks.forward(objective, s.probe);
      ++out.evaluations;
      if (const Index j = kinks.most_violated(); j >= 0) {
        if (j != target) {
          target = j;
          f_lo = std::max(kinks.event(j, s.z_lo, s.lambda_lo), Scalar(0));
          kept = 0;
        }
        if (kept == 1) f_lo /= Scalar(2);
        kept = 1;
        hi = sigma;
        f_hi = kinks.event(j);
      } else {
        lo = sigma;
        f_lo = kinks.event(target);
        s.z_lo = kinks.values();
        s.lambda_lo = kinks.weights();
        if (kept == -1) f_hi /= Scalar(2);
        kept = -1;
      }
    }
    const Scalar event_time = s.time + hi * h;
    const SwitchLocation where = kinks.locate(target, objective.model());
    Scalar fraction = hi;
    dense(hi);
    if (kinks.sliding(target)) {  // a sliding weight left [0, 1]: leave to the side it points to
      kinks.evaluate(objective, s.probe, s.g2);
      ++out.evaluations;
      kinks.set_side(target, kinks.weights()[target] < Scalar(0.5) ? Scalar(-1) : Scalar(1));
    } else {
      const Scalar new_side = -kinks.side(target);
      kinks.evaluate(objective, s.probe, s.g2);
      kinks.rates(objective, s.probe, s.g2);
      const Scalar towards = new_side * kinks.rates()[target];  // the old piece moves into the new side
      kinks.set_side(target, new_side);
      kinks.evaluate(objective, s.probe, s.g2);
      kinks.rates(objective, s.probe, s.g2);
      const Scalar away = new_side * kinks.rates()[target];  // the new piece moves on, away from the kink
      out.evaluations += 2;
      if (!(away > Scalar(0))) {
        if (towards > Scalar(0)) {
          kinks.start_sliding(target);
        } else {  // a graze: the old piece touches the kink and turns back; stay on it, before the kink
          kinks.set_side(target, -new_side);
          fraction = lo;
          dense(lo);
        }
      }
    }
    // Settle the sliding set: a weight outside [0, 1] releases its kink to that side.
    for (Index round = 0;; ++round) {
      if (const Index bad = kinks.rebuild(objective); bad >= 0) {
        const SwitchLocation at = kinks.locate(bad, objective.model());
        StepOutcome<Scalar> stalled = fail(out, StopReason::stalled, event_time);
        stalled.stall = at.layer > 1 ? StallCause::curved_sliding : StallCause::dependent_sliding;
        stalled.where = at;
        kinks.reset(objective, theta);  // back to the pieces at θ, which the run keeps
        return stalled;
      }
      s.point.loss = kinks.evaluate(objective, s.probe, s.field);
      ++out.evaluations;
      const Index j = kinks.most_violated();
      if (j < 0 || !kinks.sliding(j) || round > kinks.count()) break;
      kinks.set_side(j, kinks.weights()[j] < Scalar(0.5) ? Scalar(-1) : Scalar(1));
    }
    kinks.allow_rounding(objective, s.probe);
    const Scalar dt = fraction * h;
    if (dt <= Scalar(16) * eps * abs(s.time)) {
      if (++s.events_in_place >= max_rejections) {
        StepOutcome<Scalar> stalled = fail(out, StopReason::stalled, event_time);
        stalled.stall = StallCause::chattering;
        stalled.where = where;
        s.ready = false;
        return stalled;
      }
    } else {
      s.events_in_place = 0;
    }
    theta = s.probe;
    s.at = theta;
    s.point.gradient = s.field;
    out.dt = dt;
    out.landed = out.landed && fraction == Scalar(1);
    return out;
  }

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
