// SPDX-License-Identifier: MIT
#pragma once
/// \file Dense (fully connected) layer: y = W x (+ b), W ∈ R^{out × in}, x the whole sample column
/// (a C×H×W input is flattened in the order of symflow/model/layers/shape.hpp, as PyTorch's
/// nn.Flatten does). θ holds W column-major (PyTorch's Linear.weight is W row-major: transpose),
/// then b.

#include <string>
#include <type_traits>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/shape.hpp"
#include "symflow/model/products.hpp"

namespace symflow {

/// Tags for Dense's second parameter.
struct NoBias {};
struct WithBias {};

/// Dense<out> or Dense<out, WithBias>; Dense<Dynamic>{units} takes the width at run time.
template <int Out, class BiasTag = NoBias>
struct Dense {
  static_assert(Out > 0 || Out == Dynamic, "symflow::Dense: the number of units must be positive or Dynamic");
  static_assert(std::is_same_v<BiasTag, NoBias> || std::is_same_v<BiasTag, WithBias>,
                "symflow::Dense: the second parameter is symflow::NoBias or symflow::WithBias");
  static constexpr bool has_bias = std::is_same_v<BiasTag, WithBias>;
  static constexpr bool is_fixed = Out != Dynamic;
  /// The number of units (must equal Out when Out is fixed).
  Index units = Out == Dynamic ? 0 : Out;

  template <class S, int C, int H, int W>
  class Bound {
   public:
    using Scalar = S;
    using Spec = Dense;
    static constexpr bool parameterised = true;
    static constexpr bool has_bias = Dense::has_bias;
    static constexpr bool is_dense = true;
    static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
    static constexpr int out_c = Out, out_h = 1, out_w = 1;
    static constexpr int out_width = Out;
    static constexpr int num_params = add_sizes(mul_sizes(Out, in_width), has_bias ? Out : 0);
    using Weight = Eigen::Matrix<S, Out, in_width>;
    using Bias = Eigen::Matrix<S, Out, 1>;
    template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
    template <int K> using Out_ = detail::FeatureMatrix<S, Out, K>;
    template <int K> struct Cache {};

    Bound(const Dense& spec, Shape in) : spec_(spec), in_(in) {
      detail::require_extent("Dense", "the number of units", Out, spec.units);
      detail::require_extent("Dense", "the input width", in_width, in.size());
    }
    const Dense& spec() const { return spec_; }
    Shape in_shape() const { return in_; }
    Shape out_shape() const { return {spec_.units, 1, 1}; }
    Index size() const { return spec_.units * in_.size() + (has_bias ? spec_.units : 0); }
    /// Units this layer produces, and units of its input (C of a C×H×W input, whose unit c owns the
    /// H·W columns c·H·W, …, (c+1)·H·W − 1 of W).
    Index out_units() const { return spec_.units; }
    Index in_units() const { return in_.channels; }
    Index positions() const { return in_.height * in_.width; }

    Eigen::Map<const Weight> weight(const S* theta) const { return {theta, spec_.units, in_.size()}; }
    Eigen::Map<Weight> weight(S* theta) const { return {theta, spec_.units, in_.size()}; }
    Eigen::Map<const Bias> bias(const S* theta) const { return {theta + spec_.units * in_.size(), spec_.units}; }
    Eigen::Map<Bias> bias(S* theta) const { return {theta + spec_.units * in_.size(), spec_.units}; }

    template <int K, class Y>
    void forward(const S* theta, const In<K>& x, Y& y, Cache<K>&) const {
      detail::multiply(y, weight(theta), x);
      if constexpr (has_bias) y.colwise() += bias(theta);
    }
    /// gx: ∂L/∂x is written there unless it is null; std::nullptr_t (the first layer of a network
    /// whose input gradient nobody asked for) leaves its product out of the program.
    template <int K, class Y, class GY, class GX>
    void backward(const S* theta, const In<K>& x, const Y&, const Cache<K>&, const GY& gy, S* grad, GX gx) const {
      detail::multiply_transposed(weight(grad), gy, x);
      if constexpr (has_bias) bias(grad) = gy.rowwise().sum();
      if constexpr (!std::is_null_pointer_v<GX>) {
        if (gx) detail::multiply(*gx, weight(theta).transpose(), gy);
      }
    }

   private:
    Dense spec_;
    Shape in_;
  };
  static std::string name() { return has_bias ? "dense_with_bias" : "dense"; }
};

}  // namespace symflow
