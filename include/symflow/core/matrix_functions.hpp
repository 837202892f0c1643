// SPDX-License-Identifier: MIT
#pragma once
/// \file The exponential, inverse and LU factorisation of a square matrix, computed at run-time size.
///
/// Eigen instantiates its scaling-and-squaring exponential and its partial-pivoting LU once per
/// matrix type: seconds of compile time for every fixed size h a program uses (g++ 12 -O0: the
/// exponential 2.3–2.7 s, PartialPivLU<Matrix4d> 2.0 s). The arithmetic on an h × h group element is
/// the same at either size, so a fixed-size argument goes through Matrix<S, Dynamic, Dynamic>: one
/// instantiation per scalar type, whatever the widths. (A copy of h² numbers, against O(h³) work.)

#include <Eigen/LU>
#include <unsupported/Eigen/MatrixFunctions>

namespace symflow::detail {

/// The run-time-sized matrix over the scalar of Derived.
template <class Derived>
using RuntimeSquare = Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// exp(M) (Padé scaling and squaring).
template <class Derived>
typename Derived::PlainObject matrix_exp(const Eigen::MatrixBase<Derived>& m) {
  return typename Derived::PlainObject(RuntimeSquare<Derived>(m).exp());
}

/// g⁻¹. Fixed sizes up to 4 keep Eigen's closed forms, which are cheap to compile.
template <class Derived>
typename Derived::PlainObject matrix_inverse(const Eigen::MatrixBase<Derived>& g) {
  constexpr int n = Derived::RowsAtCompileTime;
  if constexpr (n != Eigen::Dynamic && n <= 4) return g.inverse();
  else return typename Derived::PlainObject(RuntimeSquare<Derived>(g).inverse());
}

/// The partial-pivoting LU factorisation of g, at run-time size.
template <class Derived>
Eigen::PartialPivLU<RuntimeSquare<Derived>> lu_factorization(const Eigen::MatrixBase<Derived>& g) {
  return Eigen::PartialPivLU<RuntimeSquare<Derived>>(RuntimeSquare<Derived>(g));
}

}  // namespace symflow::detail
