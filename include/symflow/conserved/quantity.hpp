// SPDX-License-Identifier: MIT
#pragma once
/// \file What a conserved quantity provides, its exact rate of change along a velocity, and the
/// adaptor that sums a vector- or matrix-valued quantity into a scalar.
///
/// A quantity is a function Q : R^d → Value of the flat parameter vector θ (Value a scalar, a
/// vector such as one entry per hidden unit, or a matrix). It is conserved by gradient flow when
/// dQ/dt = ⟨∇Q(θ), −∇L(θ)⟩ = 0 at every θ, which directional_derivative() evaluates exactly.

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow {

/// Q(θ) with nested Scalar, Params and Value types and a member value(θ).
template <class Q>
concept Quantity = requires(const Q& q, const typename Q::Params& p) {
  typename Q::Scalar;
  typename Q::Params;
  typename Q::Value;
  { q.value(p) } -> std::convertible_to<typename Q::Value>;
};

/// A quantity that can be rebuilt over another scalar (q.template cast<S>()), which gives exact
/// derivatives by dual numbers.
template <class Q>
concept RebindableQuantity = Quantity<Q> && requires(const Q& q) {
  q.template cast<Dual<typename Q::Scalar>>();
};

/// A quantity that is a homogeneous quadratic form Q(θ) = B(θ, θ). For such Q, one gradient-descent
/// step changes Q by exactly η² Q(∇L) (analysis/drift.hpp), since the cross term B(θ, ∇L) vanishes.
template <class Q>
concept QuadraticQuantity = Quantity<Q> && Q::is_quadratic;

namespace detail {

template <class V>
auto epsilon_part(const V& v) {
  if constexpr (is_dual_v<V>) {
    return v.eps;
  } else {
    using T = decltype(std::declval<typename V::Scalar>().eps);
    return v.unaryExpr([](const typename V::Scalar& x) { return x.eps; }).template cast<T>().eval();
  }
}

}  // namespace detail

/// A quantity that computes its own directional derivative, q.derivative(θ, v) = d/dt Q(θ + tv) at 0.
template <class Q>
concept SelfDifferentiatingQuantity = Quantity<Q> && requires(const Q& q, const typename Q::Params& p) {
  { q.derivative(p, p) } -> std::convertible_to<typename Q::Value>;
};

/// d/dt Q(θ + t v) at t = 0, exactly: by the quantity's own derivative(θ, v) when it has one,
/// otherwise by one evaluation in dual numbers. With v = −∇L(θ) this is dQ/dt along gradient flow,
/// which vanishes for a conserved quantity.
template <Quantity Q, class DP, class DV>
  requires RebindableQuantity<Q> || SelfDifferentiatingQuantity<Q>
typename Q::Value directional_derivative(const Q& q, const Eigen::MatrixBase<DP>& theta,
                                         const Eigen::MatrixBase<DV>& velocity) {
  detail::require_length("velocity", theta.size(), velocity.size());
  if constexpr (SelfDifferentiatingQuantity<Q>) {
    const auto p = detail::convert_checked<typename Q::Params>("θ", theta);
    const auto v = detail::convert_checked<typename Q::Params>("velocity", velocity);
    return q.derivative(p, v);
  } else {
    using S = typename Q::Scalar;
    using D = Dual<S>;
    const auto dual_quantity = q.template cast<D>();
    using DualParams = typename std::remove_cvref_t<decltype(dual_quantity)>::Params;
    if constexpr (DualParams::SizeAtCompileTime != Dynamic)
      detail::convert_checked<typename Q::Params>("θ", theta);  // throws unless θ has the fixed length
    DualParams p(theta.size());
    for (Index i = 0; i < theta.size(); ++i) p[i] = D(theta[i], velocity[i]);
    return typename Q::Value(detail::epsilon_part(dual_quantity.value(p)));
  }
}

/// The sum of all entries of a vector- or matrix-valued quantity, as a scalar quantity: e.g. the
/// total of the per-unit quantities of eq. (48).
template <Quantity Q>
class Summed {
 public:
  using Scalar = typename Q::Scalar;
  using Params = typename Q::Params;
  using Value = Scalar;
  static constexpr bool is_quadratic = QuadraticQuantity<Q>;

  explicit Summed(Q q) : q_(std::move(q)) {}
  const Q& summand() const { return q_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const { return q_.value(p).sum(); }

  template <class S>
  auto cast() const {
    auto inner = q_.template cast<S>();
    return Summed<decltype(inner)>(std::move(inner));
  }
  std::string name() const { return "sum of " + q_.name(); }

 private:
  Q q_;
};

/// Σ of the entries of q, as a scalar quantity.
template <Quantity Q>
Summed<Q> summed(Q q) { return Summed<Q>(std::move(q)); }

}  // namespace symflow
