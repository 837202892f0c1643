// SPDX-License-Identifier: MIT
#pragma once
/// \file The matrix products of forward and back-propagation, detail::multiply (dst = a·b) and
/// detail::multiply_transposed (dst = g·aᵀ), shared by Mlp and the Dense layer.
///
/// Two things make them more than `dst.noalias() = a * b`. Small fixed-size factors are multiplied
/// coefficient by coefficient (faster than Eigen's blocked GEMM at these sizes). And a product over
/// dual numbers is three real products, (a + a′ε)(b + b′ε) = ab + (a′b + ab′)ε, of the very
/// expression types the real-valued model uses: no GEMM over a dual scalar is ever instantiated
/// (each costs about a second of compile time), and the real ones vectorise. Nested duals split
/// recursively.

#include <type_traits>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow::detail {

template <class Dst, class A, class B>
void multiply(Dst&& dst, const A& a, const B& b);
template <class Dst, class G, class A>
void multiply_transposed(Dst&& dst, const G& g, const A& a);

template <class T> struct dual_real;
template <class T> struct dual_real<Dual<T>> { using type = T; };

/// One factor of a product over dual numbers, split into its real and ε-parts, each held in a plain
/// real matrix and viewed with the factor's own kind of expression: a Map for a Map, a transpose for
/// a transpose, a matrix for anything else. The real products then have the very types that the
/// real-valued model instantiates already.
template <class F>
struct SplitFactor {
  using Real = Eigen::Matrix<typename dual_real<typename F::Scalar>::type, F::RowsAtCompileTime, F::ColsAtCompileTime>;
  Real value, eps;
  explicit SplitFactor(const F& f) : value(f.rows(), f.cols()), eps(f.rows(), f.cols()) {
    for (Index j = 0; j < f.cols(); ++j)
      for (Index i = 0; i < f.rows(); ++i) {
        const auto& x = f.coeff(i, j);
        value(i, j) = x.value;
        eps(i, j) = x.eps;
      }
  }
  const Real& value_view() const { return value; }
  const Real& eps_view() const { return eps; }
};
template <class D, int R, int C, int O, int MR, int MC>
struct SplitFactor<Eigen::Map<const Eigen::Matrix<D, R, C, O, MR, MC>>> : SplitFactor<Eigen::Matrix<D, R, C, O, MR, MC>> {
  using Base = SplitFactor<Eigen::Matrix<D, R, C, O, MR, MC>>;
  using Base::Base;
  Eigen::Map<const typename Base::Real> value_view() const { return {this->value.data(), this->value.rows(), this->value.cols()}; }
  Eigen::Map<const typename Base::Real> eps_view() const { return {this->eps.data(), this->eps.rows(), this->eps.cols()}; }
};
template <class X>
struct SplitFactor<Eigen::Transpose<X>> {
  SplitFactor<std::remove_const_t<X>> inner;
  explicit SplitFactor(const Eigen::Transpose<X>& f) : inner(f.nestedExpression()) {}
  auto value_view() const { return inner.value_view().transpose(); }
  auto eps_view() const { return inner.eps_view().transpose(); }
};

/// dst = v + (e₁ + e₂)ε, entry by entry (dst takes v's shape if it is a resizable matrix).
template <class Dst, class V>
void join_dual(Dst& dst, const V& v, const V& e1, const V& e2) {
  dst.derived().resize(v.rows(), v.cols());
  for (Index j = 0; j < v.cols(); ++j)
    for (Index i = 0; i < v.rows(); ++i) dst.coeffRef(i, j) = {v(i, j), e1(i, j) + e2(i, j)};
}

/// A real matrix of dst's shape.
template <class Dst>
using RealLike = Eigen::Matrix<typename dual_real<typename Dst::Scalar>::type, Dst::RowsAtCompileTime,
                               Dst::ColsAtCompileTime>;

/// dst = a·b. Products of small fixed-size factors with a short inner dimension are unrolled
/// coefficient by coefficient (lazyProduct): for them Eigen's blocked GEMM path spends more on
/// zeroing and packing than on arithmetic. Everything else goes to GEMM. Over dual numbers the
/// product is three real ones, (a + a′ε)(b + b′ε) = ab + (a′b + ab′)ε: they vectorise, and no dual
/// GEMM is ever instantiated (seconds of compile time each).
template <class Dst, class A, class B>
void multiply(Dst&& dst, const A& a, const B& b) {
  if constexpr (is_dual_v<typename A::Scalar>) {
    using Out = RealLike<std::remove_cvref_t<Dst>>;
    const SplitFactor<A> sa(a);
    const SplitFactor<B> sb(b);
    Out v(a.rows(), b.cols()), e1(a.rows(), b.cols()), e2(a.rows(), b.cols());
    multiply(v, sa.value_view(), sb.value_view());
    multiply(e1, sa.eps_view(), sb.value_view());
    multiply(e2, sa.value_view(), sb.eps_view());
    join_dual(dst, v, e1, e2);
  } else {
    constexpr int depth = static_cast<int>(A::ColsAtCompileTime);
    constexpr int rows = static_cast<int>(A::RowsAtCompileTime);
    constexpr int cols = static_cast<int>(B::ColsAtCompileTime);
    constexpr bool small = depth != Dynamic && depth <= 16 && rows != Dynamic && cols != Dynamic && rows * cols <= 1024;
    if constexpr (small) dst.noalias() = a.lazyProduct(b);
    else dst.noalias() = a * b;
  }
}

/// dst = g·aᵀ (a weight gradient: g ∈ R^{r×k}, a ∈ R^{c×k}). With few rows r and many columns c
/// (the last layer of a narrow-output network), aᵀ's rows are short: the product runs as
/// (a·gᵀ)ᵀ, whose columns have length c and vectorise, and is transposed while stored. Over dual
/// numbers, three real products as in multiply.
template <class Dst, class G, class A>
void multiply_transposed(Dst&& dst, const G& g, const A& a) {
  constexpr int rows = static_cast<int>(G::RowsAtCompileTime);
  constexpr int cols = static_cast<int>(A::RowsAtCompileTime);
  constexpr int depth = static_cast<int>(G::ColsAtCompileTime);
  if constexpr (is_dual_v<typename G::Scalar>) {
    using Out = RealLike<std::remove_cvref_t<Dst>>;
    const SplitFactor<G> sg(g);
    const SplitFactor<A> sa(a);
    Out v(g.rows(), a.rows()), e1(g.rows(), a.rows()), e2(g.rows(), a.rows());
    multiply_transposed(v, sg.value_view(), sa.value_view());
    multiply_transposed(e1, sg.eps_view(), sa.value_view());
    multiply_transposed(e2, sg.value_view(), sa.eps_view());
    join_dual(dst, v, e1, e2);
  } else if constexpr (rows != Dynamic && cols != Dynamic && depth != Dynamic && rows < 8 && cols >= 8 && depth <= 16 &&
                       rows * cols <= 1024) {
    Eigen::Matrix<typename G::Scalar, cols, rows> t;
    t.noalias() = a.lazyProduct(g.transpose());
    dst = t.transpose();
  } else {
    multiply(dst, g, a.transpose());
  }
}

}  // namespace symflow::detail
