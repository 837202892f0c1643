// SPDX-License-Identifier: MIT
#pragma once
/// \file What a hidden activation must provide, and how a layer applies it and pulls a gradient
/// back through it.
///
/// Two kinds of activation plug into a model:
///  - elementwise: `value(z)` and `derivative(z)` for a scalar z, written as templates over the
///    scalar type so that the same code runs in float, double, long double and symflow::Dual;
///  - column-wise (e.g. radial): `apply(z)` = σ(z) and `pullback(z, g)` = dσ_zᵀ g for a column z.
///
/// An elementwise activation may also provide whole-array members, which a layer then prefers
/// because they can use SIMD (std::tanh and std::exp are scalar calls; Eigen's array exp is not):
///  - `values(z)`: σ applied to every entry of an Eigen array z;
///  - `derivatives(z, a)`: σ'(z) entry by entry, given z and a = σ(z) from the forward pass (so
///    that, e.g., tanh' = 1 − a² needs no second tanh).
/// They must agree with value/derivative entry by entry up to rounding, and stay templates over
/// the scalar (dual numbers go through them for exact Hessian-vector products).

#include <concepts>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow {

/// σ acts entry by entry: σ(z)_i = value(z_i), with σ' = derivative.
template <class A>
concept ElementwiseActivation = requires(const A& a, double z) {
  { a.value(z) } -> std::convertible_to<double>;
  { a.derivative(z) } -> std::convertible_to<double>;
};

/// σ acts on a whole column (one sample's hidden vector), e.g. σ(z) = f(‖z‖)·z.
template <class A>
concept ColumnActivation = requires(const A& a, const Eigen::VectorXd& z, const Eigen::VectorXd& g) {
  { a.apply(z) } -> std::convertible_to<Eigen::VectorXd>;
  { a.pullback(z, g) } -> std::convertible_to<Eigen::VectorXd>;
};

/// Anything a model can use as its hidden activation.
template <class A>
concept Activation = ElementwiseActivation<A> || ColumnActivation<A>;

namespace detail {

/// The activation has the whole-array members values(z) and derivatives(z, a) for arrays like Z.
template <class A, class Z>
concept ArrayActivation = requires(const A& a, const Z& z) {
  a.values(z);
  a.derivatives(z, z);
};

/// out = σ(z) and g ⊙= σ'(z) for elementwise activations on whole arrays (a = σ(z) from the forward
/// pass), through values/derivatives where the activation has them. Plain function templates, so the
/// branch not taken is never instantiated, also inside generic lambdas.
template <class A, class Out, class Z>
void assign_values(const A& a, Out&& out, const Z& z) {
  using Scalar = typename std::decay_t<Z>::Scalar;
  if constexpr (ArrayActivation<A, Z>) out = a.values(z);
  else out = z.unaryExpr([&a](const Scalar& v) { return static_cast<Scalar>(a.value(v)); });
}

template <class A, class G, class Z, class Post>
void multiply_derivatives(const A& a, G&& g, const Z& z, const Post& post) {
  using Scalar = typename std::decay_t<Z>::Scalar;
  if constexpr (ArrayActivation<A, Z>) g *= a.derivatives(z, post);
  else g *= z.unaryExpr([&a](const Scalar& v) { return static_cast<Scalar>(a.derivative(v)); });
}

/// σ(Z), column by column for column activations.
template <class A, class Derived>
auto activate(const A& a, const Eigen::MatrixBase<Derived>& z) {
  using Scalar = typename Derived::Scalar;
  typename Derived::PlainObject out(z.rows(), z.cols());
  if constexpr (ArrayActivation<A, decltype(z.array())>) {
    out.array() = a.values(z.array());
  } else if constexpr (ElementwiseActivation<A>) {
    out = z.unaryExpr([&a](const Scalar& v) { return static_cast<Scalar>(a.value(v)); });
  } else {
    for (Index j = 0; j < z.cols(); ++j) out.col(j) = a.apply(z.col(j).eval());
  }
  return out;
}

/// dσ_Zᵀ G: the gradient with respect to the pre-activation Z, given the gradient G with respect
/// to σ(Z).
template <class A, class DerivedZ, class DerivedG>
auto pullback(const A& a, const Eigen::MatrixBase<DerivedZ>& z, const Eigen::MatrixBase<DerivedG>& g) {
  using Scalar = typename DerivedZ::Scalar;
  typename DerivedZ::PlainObject out(z.rows(), z.cols());
  if constexpr (ElementwiseActivation<A>) {
    out = g.cwiseProduct(z.unaryExpr([&a](const Scalar& v) { return static_cast<Scalar>(a.derivative(v)); }));
  } else {
    for (Index j = 0; j < z.cols(); ++j) out.col(j) = a.pullback(z.col(j).eval(), g.col(j).eval());
  }
  return out;
}

/// G ← dσ_Zᵀ G in place, given also A = σ(Z) from the forward pass (used by derivatives(z, a)).
template <class A, class DerivedZ, class DerivedA, class DerivedG>
void pullback_in_place(const A& a, const Eigen::MatrixBase<DerivedZ>& z, const Eigen::MatrixBase<DerivedA>& post,
                       Eigen::MatrixBase<DerivedG>& g) {
  using Scalar = typename DerivedZ::Scalar;
  if constexpr (ArrayActivation<A, decltype(z.array())>) {
    g.array() *= a.derivatives(z.array(), post.array());
  } else if constexpr (ElementwiseActivation<A>) {
    g.array() *= z.array().unaryExpr([&a](const Scalar& v) { return static_cast<Scalar>(a.derivative(v)); });
  } else {
    for (Index j = 0; j < z.cols(); ++j) g.col(j) = a.pullback(z.col(j).eval(), g.col(j).eval());
  }
}

}  // namespace detail
}  // namespace symflow
