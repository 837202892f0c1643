// SPDX-License-Identifier: MIT
#pragma once
/// \file A residual block around a sub-sequence of layers: y = x + f(x), f the layers in order
/// (He et al. 2016). f must give back the shape it takes. Its parameters are f's, in order.
///
/// Symmetries across the skip: the identity path adds x unchanged, so a group acting on the units of
/// x (the residual stream) survives only if f commutes with it, f(g x) = g f(x). See
/// docs/models.md: junctions inside f keep their groups; per-unit rescaling and GL of the stream
/// do not survive; a common scale c > 0 of the whole stream survives when f is positively
/// homogeneous of degree 1.

#include <string>
#include <tuple>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/chain.hpp"

namespace symflow {

template <class... Specs>
struct Residual {
  static_assert(sizeof...(Specs) >= 1, "symflow::Residual: the block needs at least one layer");
  std::tuple<Specs...> layers{};

  Residual() = default;
  explicit Residual(Specs... specs) : layers(std::move(specs)...) {}

  template <class S, int C, int H, int W>
  class Bound {
    using Inner = detail::Chain<S, C, H, W, Specs...>;
    static_assert((Inner::out_c == Dynamic || C == Dynamic || Inner::out_c == C) &&
                      (Inner::out_h == Dynamic || H == Dynamic || Inner::out_h == H) &&
                      (Inner::out_w == Dynamic || W == Dynamic || Inner::out_w == W),
                  "symflow::Residual: the block's layers must give back the shape they take (y = x + f(x))");

   public:
    using Scalar = S;
    using Spec = Residual;
    using InnerChain = Inner;
    static constexpr bool parameterised = false;
    static constexpr bool is_residual = true;
    static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
    static constexpr int out_c = C, out_h = H, out_w = W;
    static constexpr int out_width = in_width;
    static constexpr int num_params = Inner::total_params;
    template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
    template <int K> using Cache = typename Inner::template ForwardPass<K>;

    Bound(const Residual& spec, Shape in) : spec_(spec), inner_(in, spec.layers) {
      if (!(inner_.out_shape() == in))
        throw std::invalid_argument("symflow::Residual: the block maps shape " + in.str() + " to " +
                                    inner_.out_shape().str() + "; y = x + f(x) needs the same shape");
    }
    const Residual& spec() const { return spec_; }
    const Inner& inner() const { return inner_; }
    Shape in_shape() const { return inner_.in_shape(); }
    Shape out_shape() const { return inner_.in_shape(); }
    Index size() const { return inner_.param_count(); }

    template <int K, class Y>
    void forward(const S* theta, const In<K>& x, Y& y, Cache<K>& pass) const {
      pass.template at<0>() = x;
      inner_.run_forward(theta, pass);
      y = x + pass.output();
    }
    template <int K, class Y, class GY>
    void backward(const S* theta, const In<K>&, const Y&, const Cache<K>& pass, const GY& gy, S* grad,
                  In<K>* gx) const {
      inner_.run_backward(theta, pass, gy, grad, gx);
      if (gx) *gx += gy;
    }

   private:
    Residual spec_;
    Inner inner_;
  };
  static std::string name() { return "residual"; }
};

}  // namespace symflow
