// SPDX-License-Identifier: MIT
#pragma once
/// \file An activation at one position of a layered model: any symflow activation (built-in or a
/// user's, elementwise or column-wise; see symflow/model/activation.hpp) written directly in the
/// layer list, e.g. Sequential<double, Input<4>, Dense<8>, ReLU, Dense<3>>.

#include "symflow/core/config.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

/// The layer that applies activation A to every entry (or, for a column activation, every column).
template <class A>
struct ActivationLayer {
  static_assert(Activation<A>,
                "symflow::Sequential: a layer must be a symflow layer (Dense, Conv2d, LayerNorm, BatchNorm, "
                "Residual) or an activation with value(z) and derivative(z) (elementwise) or apply(z) and "
                "pullback(z, g) (column-wise); see symflow/model/activation.hpp");
  A activation{};

  template <class S, int C, int H, int W>
  class Bound {
   public:
    using Scalar = S;
    using Spec = A;
    using ActivationType = A;
    static constexpr bool parameterised = false;
    static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
    static constexpr int out_c = C, out_h = H, out_w = W;
    static constexpr int out_width = in_width;
    static constexpr int num_params = 0;
    template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
    template <int K> struct Cache {};

    Bound(const A& a, Shape in) : activation_(a), in_(in) {}
    const A& spec() const { return activation_; }
    const A& activation() const { return activation_; }
    Shape in_shape() const { return in_; }
    Shape out_shape() const { return in_; }
    Index size() const { return 0; }

    template <int K, class Y>
    void forward(const S*, const In<K>& x, Y& y, Cache<K>&) const {
      y = detail::activate(activation_, x);
    }
    template <int K, class Y, class GY>
    void backward(const S*, const In<K>& x, const Y& y, const Cache<K>&, const GY& gy, S*, In<K>* gx) const {
      if (!gx) return;
      *gx = gy;
      detail::pullback_in_place(activation_, x, y, *gx);
    }

   private:
    A activation_;
    Shape in_;
  };
};

}  // namespace symflow
