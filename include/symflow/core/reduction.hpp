// SPDX-License-Identifier: MIT
#pragma once
/// \file Streaming sums of squares that keep their digits.
///
/// Conserved quantities such as Tr Q = ‖W_i‖²_F − ‖W_{i+1}‖²_F are differences of two large, nearly
/// equal sums (Q ≈ 0 when the widths agree), so the rounding error of each sum, relative to the sum,
/// is amplified by sum/|Q|. A plain float sum of n squares loses about log10(n/16) digits (Eigen sums
/// in 16 float lanes), which at 16 million entries leaves Q with almost none; a plain double sum
/// loses about as many of its 16. Here contiguous float and double data are squared and summed in
/// double at the memory bandwidth: blocks of 1024 entries go into 32 independent partial sums (the
/// compiler turns them into SIMD conversions and adds without reassociating anything), and the
/// block totals are added with Neumaier's compensated summation. The error of the whole sum is
/// then that of a 32-term block, whatever n is.

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "symflow/core/config.hpp"

namespace symflow {

/// The type a sum of Scalar values is accumulated in: double for float, Scalar otherwise.
template <class Scalar>
using accumulator_t = std::conditional_t<std::is_same_v<Scalar, float>, double, Scalar>;

namespace detail {

/// Σ x_i² over n contiguous values (float or double), accumulated in double block by block.
template <class T>
double blocked_sum_of_squares(const T* x, Index n) {
  constexpr int lanes = 32;
  constexpr Index block = 1024;
  double total = 0, compensation = 0;
  for (Index start = 0; start < n; start += block) {
    const Index end = std::min(n, start + block);
    double partial[lanes] = {};
    Index i = start;
    for (; i + lanes <= end; i += lanes)
      for (int j = 0; j < lanes; ++j) {
        const double v = x[i + j];
        partial[j] += v * v;
      }
    for (int j = 0; i < end; ++i, ++j) {
      const double v = x[i];
      partial[j] += v * v;
    }
    double s = 0;
    for (int j = 0; j < lanes; ++j) s += partial[j];
    // Neumaier: keep the low-order part that total + s rounds away.
    const double t = total + s;
    compensation += std::abs(total) >= std::abs(s) ? (total - t) + s : (s - t) + total;
    total = t;
  }
  return total + compensation;
}

}  // namespace detail

/// ‖x‖²_F = Σ x_ij², accumulated in double for float and double data (returned as
/// accumulator_t<Scalar>: double for float), one pass; other scalars use Eigen's squaredNorm.
template <class Derived>
accumulator_t<typename Derived::Scalar> sum_of_squares(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  if constexpr (std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>) {
    constexpr bool direct = bool(Derived::Flags & Eigen::DirectAccessBit) && Derived::InnerStrideAtCompileTime == 1;
    if constexpr (direct) {
      if (x.size() == 0) return Scalar(0);
      if (x.derived().outerStride() == x.derived().innerSize() || x.derived().outerSize() == 1)
        return static_cast<accumulator_t<Scalar>>(detail::blocked_sum_of_squares(x.derived().data(), x.size()));
    }
    return static_cast<accumulator_t<Scalar>>(x.derived().template cast<double>().matrix().squaredNorm());
  } else {
    return x.derived().matrix().squaredNorm();
  }
}

/// Σ_j x_kj² for every row k, accumulated in accumulator_t<Scalar> (double for float). The columns
/// are added one after the other, so a column-major matrix is read once, front to back, at the
/// memory bandwidth (a row-by-row pass strides through it and, once it leaves the caches, runs
/// at a fraction of that).
template <class Derived>
Eigen::Matrix<accumulator_t<typename Derived::Scalar>, Derived::RowsAtCompileTime, 1> row_sums_of_squares(
    const Eigen::MatrixBase<Derived>& x) {
  using A = accumulator_t<typename Derived::Scalar>;
  Eigen::Matrix<A, Derived::RowsAtCompileTime, 1> out = Eigen::Matrix<A, Derived::RowsAtCompileTime, 1>::Zero(x.rows());
  if constexpr (std::is_same_v<A, typename Derived::Scalar>) {
    for (Index j = 0; j < x.cols(); ++j) out += x.col(j).cwiseAbs2();
  } else {
    // A plain loop, which the compiler vectorises with SIMD conversions (Eigen 3.4 evaluates
    // cast<double>() of float data one coefficient at a time).
    const auto& e = x.derived();
    A* o = out.data();
    for (Index j = 0; j < x.cols(); ++j)
      for (Index k = 0; k < x.rows(); ++k) {
        const A v = static_cast<A>(e.coeff(k, j));
        o[k] += v * v;
      }
  }
  return out;
}

/// Σ_k x_kj² for every column j, accumulated in accumulator_t<Scalar> (float columns through
/// sum_of_squares), as a column vector.
template <class Derived>
Eigen::Matrix<accumulator_t<typename Derived::Scalar>, Derived::ColsAtCompileTime, 1> column_sums_of_squares(
    const Eigen::MatrixBase<Derived>& x) {
  using A = accumulator_t<typename Derived::Scalar>;
  Eigen::Matrix<A, Derived::ColsAtCompileTime, 1> out(x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    if constexpr (std::is_same_v<A, typename Derived::Scalar>) out[j] = x.col(j).squaredNorm();
    else out[j] = static_cast<A>(sum_of_squares(x.col(j)));
  }
  return out;
}

}  // namespace symflow
