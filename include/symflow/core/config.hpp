// SPDX-License-Identifier: MIT
#pragma once
/// \file Basic definitions shared by every symflow header: the size sentinel, compile-time
/// size arithmetic, index type and the shape-error helper.

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace symflow {

/// Size sentinel for widths known only at run time (the same value as Eigen::Dynamic).
inline constexpr int Dynamic = Eigen::Dynamic;

using Index = Eigen::Index;

/// a + b, or Dynamic when either is Dynamic.
constexpr int add_sizes(int a, int b) { return (a == Dynamic || b == Dynamic) ? Dynamic : a + b; }
/// a * b, or Dynamic when either is Dynamic.
constexpr int mul_sizes(int a, int b) { return (a == Dynamic || b == Dynamic) ? Dynamic : a * b; }

namespace detail {

inline std::string shape_string(Index rows, Index cols) {
  std::ostringstream s;
  s << rows << "x" << cols;
  return s.str();
}

/// Throws std::invalid_argument naming `what`, the expected and the actual shape.
inline void require_shape(const char* what, Index expected_rows, Index expected_cols, Index rows,
                          Index cols) {
  if (rows != expected_rows || cols != expected_cols) {
    throw std::invalid_argument(std::string("symflow: ") + what + " has shape " +
                                shape_string(rows, cols) + ", expected " +
                                shape_string(expected_rows, expected_cols));
  }
}

/// Throws std::invalid_argument naming `what`, the expected and the actual length.
inline void require_length(const char* what, Index expected, Index actual) {
  if (expected != actual) {
    throw std::invalid_argument(std::string("symflow: ") + what + " has length " +
                                std::to_string(actual) + ", expected " + std::to_string(expected));
  }
}

/// `x` converted to Target, a matrix type with some sizes fixed at compile time, after checking
/// that x's run-time shape fits them: Eigen would otherwise assert, or with NDEBUG silently keep
/// a corner of x. Throws std::invalid_argument naming `what` and both shapes.
template <class Target, class Derived>
Target convert_checked(const char* what, const Eigen::MatrixBase<Derived>& x) {
  constexpr int rows = Target::RowsAtCompileTime, cols = Target::ColsAtCompileTime;
  if ((rows != Eigen::Dynamic && x.rows() != rows) || (cols != Eigen::Dynamic && x.cols() != cols))
    throw std::invalid_argument(std::string("symflow: ") + what + " has shape " + shape_string(x.rows(), x.cols()) +
                                ", expected " + shape_string(rows == Eigen::Dynamic ? x.rows() : rows,
                                                             cols == Eigen::Dynamic ? x.cols() : cols));
  return Target(x);
}

}  // namespace detail
}  // namespace symflow
