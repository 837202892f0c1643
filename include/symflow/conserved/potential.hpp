// SPDX-License-Identifier: MIT
#pragma once
/// \file The potential Φ_σ(v) = ∫_0^v σ(x)/σ′(x) dx of an elementwise activation: the term a first
/// layer weight contributes to the conserved quantity of eq. (48).
///
/// Why σ/σ′: with whitened input the first-layer gradient is ∇_V L = (UᵀG) ⊙ σ′(V) and the
/// second-layer gradient is ∇_U L = G σ(V)ᵀ, so along gradient flow
/// d/dt Φ_σ(V_kj) = −(UᵀG)_kj σ(V_kj) matches d/dt ½U_·k² summed over the output rows.
///
/// Closed forms (lower limit 0), stated by the activations themselves as members `potential(v)` and
/// `potential_ratio(x)` (symflow/model/activations.hpp):
///   identity, LeakyReLU      σ/σ′ = x                  Φ = v²/2
///   ReLU                     σ/σ′ = max(x, 0)          Φ = max(v, 0)²/2
///   Homogeneous{α}           σ/σ′ = max(x, 0)/α        Φ = max(v, 0)²/(2α)
///   tanh                     σ/σ′ = sinh(2x)/2         Φ = sinh²(v)/2
///   sigmoid                  σ/σ′ = 1 + eˣ             Φ = v + eᵛ − 1
/// Where σ′ = 0 and σ = 0 (the negative side of ReLU) the ratio is taken as 0: such an entry has
/// zero gradient, so gradient flow never moves it and any value of Φ there is conserved.
///
/// Domain. Φ_σ(v) exists where σ/σ′ is integrable on [0, v]: on the interval around 0 on which σ′
/// has no zero (where σ′ = 0 together with σ = 0, as for ReLU, the ratio is read as 0). Past a
/// zero of σ′ with σ ≠ 0 (a GELU-like σ′ at x ≈ −0.75) the integral diverges, and eq. (48) has no
/// conserved quantity for a weight that has crossed it. The quadrature path refuses such a v with
/// std::domain_error naming the zero: it looks for a change of sign (or a zero with σ ≠ 0) of σ′
/// at v, on a grid of 16 points over [0, v], and at every node the quadrature visits.
///
/// A user activation gets Φ by adaptive Gauss–Kronrod quadrature of σ/σ′, or supplies its own
/// closed form the same way as the built-in ones: a member `potential(v)` (and then also
/// `potential_ratio(x)` = σ/σ′ for exact derivatives, which otherwise come from value/derivative).

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "symflow/conserved/quadrature.hpp"
#include "symflow/core/dual.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/activations.hpp"

namespace symflow {

namespace detail {

template <class A, class S>
concept HasPotentialMember = requires(const A& a, const S& v) {
  { a.potential(v) } -> std::convertible_to<S>;
};
template <class A, class S>
concept HasPotentialRatioMember = requires(const A& a, const S& v) {
  { a.potential_ratio(v) } -> std::convertible_to<S>;
};

/// σ/σ′ at a real point x from the activation's value and derivative, with 0/0 read as 0.
template <class A, class S>
S ratio_from_derivative(const A& a, const S& x) {
  const S value = static_cast<S>(a.value(x));
  const S slope = static_cast<S>(a.derivative(x));
  if (slope == S(0)) {
    if (value == S(0)) return S(0);
    throw std::domain_error("symflow: the activation has σ′(x) = 0 but σ(x) ≠ 0 at x = " +
                            std::to_string(static_cast<double>(real_part(x))) +
                            ", so ∫σ/σ′ diverges there and eq. (48) has no conserved potential");
  }
  return value / slope;
}

/// The sign of σ′(x): −1, 0 or 1.
template <class A, class S>
int derivative_sign(const A& a, const S& x) {
  const S slope = static_cast<S>(a.derivative(x));
  return slope > S(0) ? 1 : (slope < S(0) ? -1 : 0);
}

/// Throws std::domain_error for the zero of σ′ between `inside` (where σ′ has sign `sign`) and
/// `outside` (where it has not), located by bisection on the sign of σ′.
template <class A, class S>
[[noreturn]] void refuse_derivative_zero(const A& a, S inside, S outside, int sign, const S& v) {
  for (int i = 0; i < 200; ++i) {
    const S mid = (inside + outside) / S(2);
    if (!(mid != inside && mid != outside)) break;
    if (derivative_sign(a, mid) == sign) inside = mid;
    else outside = mid;
  }
  const auto d = [](const S& x) { return std::to_string(static_cast<double>(real_part(x))); };
  throw std::domain_error("symflow: the activation's σ′ changes sign or vanishes at x ≈ " + d(outside) +
                          ", between 0 and v = " + d(v) + ", where σ ≠ 0: ∫_0^v σ/σ′ diverges there, so eq. (48) has "
                          "no conserved potential for this weight (Φ exists only on the interval around 0 where σ′ "
                          "has no zero)");
}

/// Φ_σ(v) by quadrature of σ/σ′ over [0, v], refusing v beyond a zero of σ′ (see the file comment).
template <class A, class S>
S integrate_potential(const A& a, const S& v, const QuadratureOptions& options) {
  if (v == S(0)) return S(0);
  // The sign of σ′ near 0: at 0, or (σ′(0) = 0, as for a ReLU-like σ) at the first grid point where it is not 0.
  constexpr int grid = 16;
  int sign = derivative_sign(a, S(0));
  S last_inside(0);
  for (int i = 1; i <= grid; ++i) {
    const S x = v * (S(i) / S(grid));
    const int s = derivative_sign(a, x);
    if (s == 0) {
      detail::ratio_from_derivative(a, x);  // throws unless σ(x) = 0 too (a dead region, ratio 0)
      continue;
    }
    if (sign == 0) sign = s;
    if (s != sign) refuse_derivative_zero(a, last_inside, x, sign, v);
    last_inside = x;
  }
  // Every node the quadrature visits: a sign change between two grid points shows up here, since
  // the integrand's growth near the zero makes the quadrature refine towards it.
  bool crossed = false;
  S crossing(0);
  const S result = integrate(
      [&](const S& x) {
        const S slope = static_cast<S>(a.derivative(x));
        if (sign != 0 && slope != S(0) && (slope > S(0) ? 1 : -1) != sign && !crossed) {
          crossed = true;
          crossing = x;
        }
        return detail::ratio_from_derivative(a, x);
      },
      S(0), v, options);
  if (crossed) {
    using std::abs;
    // Bisect from the grid point nearest the crossing on the side of 0.
    S inside(0);
    for (int i = 1; i <= grid; ++i) {
      const S x = v * (S(i) / S(grid));
      if (abs(x) < abs(crossing) && derivative_sign(a, x) == sign) inside = x;
    }
    refuse_derivative_zero(a, inside, crossing, sign, v);
  }
  return result;
}

}  // namespace detail

/// Whether the activation states Φ_σ in closed form (a member potential(v)); otherwise
/// activation_potential integrates σ/σ′ numerically.
template <class A>
inline constexpr bool has_closed_form_potential = detail::HasPotentialMember<A, double>;

/// σ(x)/σ′(x), the integrand of the potential (and its derivative), in any scalar type including
/// symflow::Dual.
template <ElementwiseActivation A, class S>
S potential_ratio(const A& a, const S& x) {
  if constexpr (detail::HasPotentialRatioMember<A, S>) {
    return a.potential_ratio(x);
  } else {
    return detail::ratio_from_derivative(a, x);
  }
}

/// Φ_σ(v) = ∫_0^v σ(x)/σ′(x) dx: the activation's own closed form `potential(v)` if it has one (every
/// symflow activation but Radial does, see the file comment), adaptive Gauss–Kronrod quadrature otherwise.
/// For S = Dual<T> the ε-part is σ/σ′ at the value times the ε-part of v (fundamental theorem of
/// calculus), so exact derivatives need no quadrature of duals.
template <ElementwiseActivation A, class S>
S activation_potential(const A& a, const S& v, const QuadratureOptions& options = {}) {
  if constexpr (is_dual_v<S>) {
    return S(activation_potential(a, v.value, options), potential_ratio(a, v.value) * v.eps);
  } else if constexpr (detail::HasPotentialMember<A, S>) {
    return a.potential(v);
  } else {
    return detail::integrate_potential(a, v, options);
  }
}

}  // namespace symflow
