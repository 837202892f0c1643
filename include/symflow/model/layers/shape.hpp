// SPDX-License-Identifier: MIT
#pragma once
/// \file Shapes of the features that flow between layers, and how a sample is stored.
///
/// A sample is one column of length C·H·W. Its entries are ordered as PyTorch's flatten of a
/// (C, H, W) tensor in C order: entry (c, y, x) is row (c·H + y)·W + x. A plain vector of n
/// features is the shape (n, 1, 1). Every extent may be symflow::Dynamic at compile time and is
/// then known at run time (from the model's input shape and the layers' parameters).

#include <string>
#include <type_traits>

#include "symflow/core/config.hpp"

namespace symflow {

/// Run-time shape of one sample: channels × height × width.
struct Shape {
  Index channels = 1;
  Index height = 1;
  Index width = 1;
  /// C·H·W, the length of a sample's column.
  Index size() const { return channels * height * width; }
  bool operator==(const Shape&) const = default;
  std::string str() const {
    return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
  }
};

/// The model's input shape at compile time: Input<n> for n features, Input<C, H, W> for images.
/// Any extent may be Dynamic (then pass the Shape to the model's constructor).
template <int C, int H = 1, int W = 1>
struct Input {
  static_assert((C > 0 || C == Dynamic) && (H > 0 || H == Dynamic) && (W > 0 || W == Dynamic),
                "symflow::Input: extents must be positive or symflow::Dynamic");
  static constexpr int channels = C, height = H, width = W;
  static constexpr bool is_fixed = C != Dynamic && H != Dynamic && W != Dynamic;
};

namespace detail {

/// Compile-time extent from a run-time one: the run-time value must match a fixed extent.
inline void require_extent(const char* layer, const char* what, int fixed, Index actual) {
  if (fixed != Dynamic && actual != fixed)
    throw std::invalid_argument(std::string("symflow::") + layer + ": " + what + " is " + std::to_string(actual) +
                                ", but the model type fixes it to " + std::to_string(fixed));
  if (actual <= 0)
    throw std::invalid_argument(std::string("symflow::") + layer + ": " + what + " is " + std::to_string(actual) +
                                ", expected a positive number");
}

/// Throws std::invalid_argument unless θ has length d; θ must be a column of the model's scalar.
template <class Scalar, class Derived>
void require_params(Index d, const Eigen::MatrixBase<Derived>& p) {
  static_assert(Derived::ColsAtCompileTime == 1, "symflow: parameters are a column vector");
  static_assert(std::is_same_v<typename Derived::Scalar, Scalar>,
                "symflow: the parameter vector's scalar type differs from the model's");
  require_length("parameter vector θ", d, p.size());
}

/// Throws std::invalid_argument unless an input X of shape rows × cols has one row per entry of a
/// sample of shape `in` (samples are columns).
inline void require_input(Shape in, Index rows, Index cols) {
  if (rows != in.size())
    throw std::invalid_argument("symflow: input X has shape " + shape_string(rows, cols) + ", expected " +
                                std::to_string(in.size()) + " rows = " + in.str() + " (samples are columns)");
}

/// Feature matrices R^{rows × K}: fixed-size when both are known and small (stack), else with a
/// run-time number of columns (heap), so that big images never land on the stack.
template <class S, int Rows, int K>
using FeatureMatrix = Eigen::Matrix<S, Rows, (Rows != Dynamic && K != Dynamic && Rows * K > 4096) ? Dynamic : K>;

}  // namespace detail
}  // namespace symflow
