// SPDX-License-Identifier: MIT
#pragma once
/// \file Checks a user can run on their own models, actions and quantities: finite differences,
/// relative errors, tolerances per scalar. symflow's own tests use the same functions.

#include <cmath>
#include <limits>

#include "symflow/core/config.hpp"

namespace symflow::testing {

/// ‖a − b‖ / max(‖b‖, floor): the relative error used throughout symflow's tests.
template <class DA, class DB>
double relative_error(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double floor = 1e-300) {
  const double diff = static_cast<double>((a - b).norm());
  const double scale = std::max(static_cast<double>(b.norm()), floor);
  return diff / scale;
}

/// |a − b| / max(|b|, floor) for scalars.
inline double relative_error(double a, double b, double floor = 1e-300) {
  return std::abs(a - b) / std::max(std::abs(b), floor);
}

/// ∛ε: the step that balances truncation and rounding in a central difference.
template <class Scalar>
Scalar central_step() {
  return std::cbrt(std::numeric_limits<Scalar>::epsilon());
}

/// Central differences of a scalar function f : R^d → R at θ, with step h·max(1, |θ_i|).
template <class F, class Params>
Params finite_difference_gradient(const F& f, const Params& theta,
                                  typename Params::Scalar h = central_step<typename Params::Scalar>()) {
  using S = typename Params::Scalar;
  Params g(theta.size());
  Params t = theta;
  for (Index i = 0; i < theta.size(); ++i) {
    using std::abs;
    const S step = h * std::max(S(1), abs(theta[i]));
    t[i] = theta[i] + step;
    const S up = f(t);
    t[i] = theta[i] - step;
    const S down = f(t);
    t[i] = theta[i];
    g[i] = (up - down) / (S(2) * step);
  }
  return g;
}

/// d/dt c(t) at t = 0 by central differences, for a curve c : R → R^d (e.g. t ↦ exp(tM)·θ).
template <class Curve>
auto curve_derivative(const Curve& c, double h = 1e-5) {
  using V = decltype(c(0.0));
  return V((c(h) - c(-h)) / static_cast<typename V::Scalar>(2 * h));
}

}  // namespace symflow::testing
