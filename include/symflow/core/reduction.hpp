// SPDX-License-Identifier: MIT
#pragma once
/// \file Streaming sums of squares that keep their digits.
///
/// Conserved quantities such as Tr Q = ‖W_i‖²_F − ‖W_{i+1}‖²_F are differences of two large, nearly
/// equal sums (Q ≈ 0 when the widths agree), so the rounding error of each sum, relative to the sum,
/// is amplified by sum/|Q|. A float sum of n squares loses about log10(n/16) digits (Eigen sums
/// in 16 float lanes), which at 16 million entries leaves Q with almost none. Here float data is
/// squared and summed in double (the square of a float is exact in double), at the memory
/// bandwidth: the loop keeps 32 independent double partial sums, which the compiler turns into
/// SIMD conversions and adds without reassociating anything.

#include <type_traits>

#include "symflow/core/config.hpp"

namespace symflow {

/// The type a sum of Scalar values is accumulated in: double for float, Scalar otherwise.
template <class Scalar>
using accumulator_t = std::conditional_t<std::is_same_v<Scalar, float>, double, Scalar>;

namespace detail {

/// Σ x_i² over n contiguous floats, accumulated in double.
inline double sum_of_squares_in_double(const float* x, Index n) {
  constexpr int lanes = 32;
  double partial[lanes] = {};
  Index i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int j = 0; j < lanes; ++j) {
      const double v = x[i + j];
      partial[j] += v * v;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double v = x[i];
    partial[j] += v * v;
  }
  double total = 0;
  for (int j = 0; j < lanes; ++j) total += partial[j];
  return total;
}

}  // namespace detail

/// ‖x‖²_F = Σ x_ij², accumulated in accumulator_t<Scalar> (double for float data), one pass.
template <class Derived>
accumulator_t<typename Derived::Scalar> sum_of_squares(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  if constexpr (std::is_same_v<Scalar, float>) {
    constexpr bool contiguous = bool(Derived::Flags & Eigen::DirectAccessBit) && Derived::InnerStrideAtCompileTime == 1;
    if constexpr (contiguous) {
      if (x.size() == 0) return 0.0;
      if (x.derived().outerStride() == x.derived().innerSize() || x.derived().outerSize() == 1)
        return detail::sum_of_squares_in_double(x.derived().data(), x.size());
    }
    return x.derived().template cast<double>().matrix().squaredNorm();
  } else {
    return x.derived().matrix().squaredNorm();
  }
}

}  // namespace symflow
