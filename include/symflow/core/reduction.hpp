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
/// then that of a 32-term block, whatever n is. Compiled with OpenMP, sums over 2¹⁸ entries or more
/// (whole arrays, rows or columns of a matrix) run on every thread Eigen uses and give the same
/// bits as on one.

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "symflow/core/config.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace symflow {

/// The type a sum of Scalar values is accumulated in: double for float, Scalar otherwise.
template <class Scalar>
using accumulator_t = std::conditional_t<std::is_same_v<Scalar, float>, double, Scalar>;

namespace detail {

/// Σ x_i² over x[start, end), at most one block: 32 independent partial sums added in order.
template <class T>
double block_sum_of_squares(const T* x, Index start, Index end) {
  constexpr int lanes = 32;
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
  return s;
}

/// total + s with Neumaier's compensation: keeps the low-order part that total + s rounds away.
inline void add_compensated(double& total, double& compensation, double s) {
  const double t = total + s;
  compensation += std::abs(total) >= std::abs(s) ? (total - t) + s : (s - t) + total;
  total = t;
}

/// From this many entries on, sums of squares use every thread Eigen uses (Eigen::nbThreads():
/// OpenMP's, unless Eigen::setNbThreads says otherwise) when the program is compiled with OpenMP.
inline constexpr Index parallel_sum_from = Index{1} << 18;

/// The threads a sum over n entries runs on: Eigen::nbThreads() from parallel_sum_from entries on,
/// outside any OpenMP parallel region (a sweep's item sums on its own thread), and 1 otherwise.
inline int sum_threads(Index n) {
#if defined(_OPENMP)
  if (n >= parallel_sum_from && !omp_in_parallel()) return Eigen::nbThreads();
#endif
  static_cast<void>(n);
  return 1;
}

/// Σ x_i² over n contiguous values (float or double), accumulated in double block by block. On
/// several threads the block sums are computed in parallel, a group of blocks at a time, and added
/// in the serial order: the same bits on any number of threads.
template <class T>
double blocked_sum_of_squares(const T* x, Index n) {
  constexpr Index block = 1024;
  double total = 0, compensation = 0;
#if defined(_OPENMP)
  if (const int threads = sum_threads(n); threads > 1) {
    constexpr Index group = 2048;  // blocks per parallel pass: 16 KiB of block sums, no allocation
    double sums[group];
    for (Index first = 0; first < n; first += group * block) {
      const Index blocks = std::min(group, (n - first + block - 1) / block);
#pragma omp parallel for schedule(static) num_threads(threads)
      for (Index b = 0; b < blocks; ++b) {
        const Index start = first + b * block;
        sums[b] = block_sum_of_squares(x, start, std::min(n, start + block));
      }
      for (Index b = 0; b < blocks; ++b) add_compensated(total, compensation, sums[b]);
    }
    return total + compensation;
  }
#endif
  for (Index start = 0; start < n; start += block)
    add_compensated(total, compensation, block_sum_of_squares(x, start, std::min(n, start + block)));
  return total + compensation;
}

/// o[k] += Σ_t c_t[k]² (PositivePart: max(c_t[k], 0)²) over Columns columns c_t, k < rows; the
/// columns are added in order t = 0, 1, …, exactly as one column after the other would add them.
template <bool PositivePart, int Columns, class S, class A>
void add_squares_of_columns(A* o, Index rows, const S* first, Index stride) {
  for (Index k = 0; k < rows; ++k) {
    A s = o[k];
    for (int t = 0; t < Columns; ++t) {
      const A v = static_cast<A>(first[t * stride + k]);
      // max(v, 0)² as v² · [v > 0], without a branch (the signs of weights are random).
      if constexpr (PositivePart) s += v * v * static_cast<A>(v > A(0));
      else s += v * v;
    }
    o[k] = s;
  }
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

/// Σ_j x_kj² (PositivePart: Σ_j max(x_kj, 0)²) for every row k of a column-major matrix with
/// contiguous columns (a weight view), accumulated in accumulator_t<Scalar> (double for float).
/// Beyond 64k entries the matrix is read once, front to back, at the memory bandwidth (a
/// row-by-row pass strides through it and, once it leaves the caches, runs at a fraction of that):
/// the columns are added into the vector of row sums several at a time (8 in double, 16 in float),
/// so that this vector, as large as the L1 cache when a layer has 4000 units, is read and written
/// once per group instead of once per column — at 4000 × 4000, 18–21 GB/s instead of 9–11.
/// Float data goes through plain loops, which the compiler vectorises with SIMD conversions.
template <bool PositivePart = false, class Derived>
Eigen::Matrix<accumulator_t<typename Derived::Scalar>, Derived::RowsAtCompileTime, 1> row_sums_of_squares(
    const Eigen::MatrixBase<Derived>& x) {
  using S = typename Derived::Scalar;
  using A = accumulator_t<S>;
  static_assert(bool(Derived::Flags & Eigen::DirectAccessBit) && !bool(Derived::Flags & Eigen::RowMajorBit),
                "symflow::row_sums_of_squares: a column-major matrix with direct access");
  if constexpr (std::is_same_v<A, S>) {
    if (x.size() <= (Index{1} << 16)) {
      if constexpr (PositivePart) return x.cwiseMax(S(0)).rowwise().squaredNorm();
      else return x.rowwise().squaredNorm();
    }
  }
  Eigen::Matrix<A, Derived::RowsAtCompileTime, 1> out = Eigen::Matrix<A, Derived::RowsAtCompileTime, 1>::Zero(x.rows());
  const Index stride = x.derived().outerStride();
  const S* data = x.derived().data();
  // The sums of rows [first, last): every column added in order.
  const auto add_rows = [&](Index first, Index last) {
    Index j = 0;
    // Fixed-size matrices are small (they live on the stack): one column at a time suffices.
    if constexpr (Derived::ColsAtCompileTime == Dynamic) {
      constexpr int group = std::is_same_v<S, float> ? 16 : 8;
      for (; j + group <= x.cols(); j += group)
        detail::add_squares_of_columns<PositivePart, group>(out.data() + first, last - first, data + first + j * stride, stride);
    }
    for (; j < x.cols(); ++j)
      detail::add_squares_of_columns<PositivePart, 1>(out.data() + first, last - first, data + first + j * stride, stride);
  };
#if defined(_OPENMP)
  // On several threads each takes a band of rows (whole cache lines of sums): every row is still
  // the same sequence of additions, so the bits do not depend on the number of threads.
  if (const int threads = detail::sum_threads(x.size()); threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const Index rows = x.rows(), team = omp_get_num_threads(), t = omp_get_thread_num();
      const Index band = ((rows + team - 1) / team + 7) / 8 * 8;
      const Index first = std::min(rows, t * band), last = std::min(rows, first + band);
      if (first < last) add_rows(first, last);
    }
    return out;
  }
#endif
  add_rows(0, x.rows());
  return out;
}

/// Σ_k x_kj² for every column j, accumulated in accumulator_t<Scalar>, as a column vector (float
/// and double columns of 256 entries or more through sum_of_squares: compensated, and at 4000 × 4000
/// in double a little faster than Eigen's per-column reduction, 16.3 against 15 GB/s).
template <class Derived>
Eigen::Matrix<accumulator_t<typename Derived::Scalar>, Derived::ColsAtCompileTime, 1> column_sums_of_squares(
    const Eigen::MatrixBase<Derived>& x) {
  using S = typename Derived::Scalar;
  using A = accumulator_t<S>;
  if constexpr (std::is_same_v<A, S>) {
    if (!std::is_same_v<S, double> || x.rows() < 256) return x.colwise().squaredNorm().transpose();
  }
  Eigen::Matrix<A, Derived::ColsAtCompileTime, 1> out(x.cols());
  const auto column = [&](Index j) {
    if (x.rows() >= 256) return static_cast<A>(sum_of_squares(x.col(j)));
    A total = 0;
    for (Index k = 0; k < x.rows(); ++k) {
      const A v = static_cast<A>(x.coeff(k, j));
      total += v * v;
    }
    return total;
  };
#if defined(_OPENMP)
  // Columns on several threads, each summed as on one.
  if (const int threads = detail::sum_threads(x.size()); threads > 1) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (Index j = 0; j < x.cols(); ++j) out[j] = column(j);
    return out;
  }
#endif
  for (Index j = 0; j < x.cols(); ++j) out[j] = column(j);
  return out;
}

}  // namespace symflow
