// SPDX-License-Identifier: MIT
#pragma once
/// \file Adaptive Gauss–Kronrod quadrature (7-point Gauss, 15-point Kronrod) in any real scalar
/// type: ∫_a^b f(x) dx for a smooth f given only as a callable. Used for the potentials
/// ∫ σ/σ′ of user activations, where no closed form is known.

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "symflow/core/config.hpp"

namespace symflow {

/// Accuracy requested from integrate(): the result is accepted on an interval when the Gauss and
/// Kronrod estimates there agree to max(absolute, relative · |whole integral|), with the tolerance
/// split between the halves of every bisection.
struct QuadratureOptions {
  /// Relative tolerance; 0 means 64 ε of the scalar type.
  double relative = 0.0;
  /// Absolute tolerance.
  double absolute = 0.0;
  /// Maximum bisection depth.
  int max_depth = 50;
  /// Maximum number of subintervals visited.
  long max_intervals = 4096;
};

namespace detail {

/// Nodes and weights of the 15-point Kronrod rule and its embedded 7-point Gauss rule on [−1, 1]
/// (Piessens et al., QUADPACK qk15), to 33 digits; entry 7 is the centre.
template <class S>
struct GaussKronrod15 {
  static constexpr long double nodes[8] = {
      0.991455371120812639206854697526329L, 0.949107912342758524526189684047851L,
      0.864864423359769072789712788640926L, 0.741531185599394439863864773280788L,
      0.586087235467691130294144845693013L, 0.405845151377397166906606412076961L,
      0.207784955007898467600689403773245L, 0.000000000000000000000000000000000L};
  static constexpr long double kronrod_weights[8] = {
      0.022935322010529224963732008058970L, 0.063092092629978553290700663189204L,
      0.104790010322250183839876322541518L, 0.140653259715525918745189590510238L,
      0.169004726639267902826583426598550L, 0.190350578064785409913256402421014L,
      0.204432940075298892414161999234649L, 0.209482141084727828012999174891714L};
  /// Gauss weights for the nodes 1, 3, 5 and 7 (odd entries) of `nodes`.
  static constexpr long double gauss_weights[4] = {
      0.129484966168869693270611432679082L, 0.279705391489276667901467771423780L,
      0.381830050505118944950369775488975L, 0.417959183673469387755102040816327L};
};

/// One application of the pair on [a, b]: returns the Kronrod estimate, writes |K − G| and the
/// Kronrod estimate of ∫|f| (the scale below which rounding hides the error).
template <class S, class F>
S gauss_kronrod_15(const F& f, const S& a, const S& b, S& error, S& magnitude) {
  using R = GaussKronrod15<S>;
  using std::abs;
  const S centre = (a + b) / S(2);
  const S half = (b - a) / S(2);
  const S fc = f(centre);
  S kronrod = fc * static_cast<S>(R::kronrod_weights[7]);
  S gauss = fc * static_cast<S>(R::gauss_weights[3]);
  S absolute = abs(fc) * static_cast<S>(R::kronrod_weights[7]);
  for (int i = 0; i < 7; ++i) {
    const S dx = half * static_cast<S>(R::nodes[i]);
    const S left = f(centre - dx);
    const S right = f(centre + dx);
    kronrod += static_cast<S>(R::kronrod_weights[i]) * (left + right);
    absolute += static_cast<S>(R::kronrod_weights[i]) * (abs(left) + abs(right));
    if (i % 2 == 1) gauss += static_cast<S>(R::gauss_weights[i / 2]) * (left + right);
  }
  error = abs(half * (kronrod - gauss));
  magnitude = abs(half) * absolute;
  return half * kronrod;
}

/// The pair on [a, b] has given `whole` with difference `error` and scale `magnitude`; accepts it
/// or bisects, each half getting half the tolerance.
template <class S, class F>
S integrate_adaptive(const F& f, const S& a, const S& b, const S& whole, const S& error, const S& magnitude,
                     const S& tolerance, int depth, int max_depth, long& budget) {
  using std::isfinite;
  if (!isfinite(whole))
    throw std::domain_error("symflow::integrate: the integrand is not finite on [" +
                            std::to_string(static_cast<double>(a)) + ", " + std::to_string(static_cast<double>(b)) +
                            "]");
  // Accept when the pair agrees, when rounding (a few ε of ∫|f|) dominates the difference, or
  // when the depth or the evaluation budget is spent.
  const S rounding_floor = S(16) * std::numeric_limits<S>::epsilon() * magnitude;
  if (error <= tolerance || error <= rounding_floor || depth >= max_depth || budget <= 0) return whole;
  const S mid = (a + b) / S(2);
  if (!(a < mid && mid < b)) return whole;  // the interval cannot be split further in this precision
  budget -= 2;
  const S half_tolerance = tolerance / S(2);
  S left_error(0), left_magnitude(0), right_error(0), right_magnitude(0);
  const S left = gauss_kronrod_15(f, a, mid, left_error, left_magnitude);
  const S right = gauss_kronrod_15(f, mid, b, right_error, right_magnitude);
  return integrate_adaptive(f, a, mid, left, left_error, left_magnitude, half_tolerance, depth + 1, max_depth, budget) +
         integrate_adaptive(f, mid, b, right, right_error, right_magnitude, half_tolerance, depth + 1, max_depth,
                            budget);
}

}  // namespace detail

/// ∫_a^b f(x) dx by adaptive bisection with the 7/15-point Gauss–Kronrod pair, in the scalar type S
/// (float, double, long double). f must be finite on [a, b]. At most `options.max_intervals`
/// subintervals are visited, so a pathological integrand costs bounded time (the result is then
/// the best estimate reached). Throws std::domain_error when f returns a non-finite value.
template <class S, class F>
S integrate(const F& f, const S& a, const S& b, const QuadratureOptions& options = {}) {
  if (a == b) return S(0);
  if (b < a) return -integrate(f, b, a, options);
  S error(0), magnitude(0);
  const S first = detail::gauss_kronrod_15(f, a, b, error, magnitude);
  using std::abs;
  const S relative = options.relative > 0 ? static_cast<S>(options.relative)
                                          : S(64) * std::numeric_limits<S>::epsilon();
  const S tolerance = std::max(static_cast<S>(options.absolute), relative * abs(first));
  long budget = options.max_intervals;
  return detail::integrate_adaptive(f, a, b, first, error, magnitude, tolerance, 0, options.max_depth, budget);
}

}  // namespace symflow
