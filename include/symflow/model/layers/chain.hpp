// SPDX-License-Identifier: MIT
#pragma once
/// \file The core of a layered model: layers bound to their input shapes and scalar, in order, with
/// one forward pass (features kept for back-propagation) and one backward pass over a flat
/// parameter block. symflow::Sequential is a Chain with a model's interface; Residual wraps one.
///
/// A layer type (Dense, Conv2d, LayerNorm, …) is a specification: a small value holding its run-time
/// options, with a nested template Bound<Scalar, C, H, W> that knows the input shape C×H×W (each
/// extent possibly Dynamic) and provides
///   out_c, out_h, out_w, in_width, out_width, num_params   (compile time, possibly Dynamic)
///   Bound(spec, Shape in), spec(), in_shape(), out_shape(), size()   (size = parameter count)
///   template <int K> struct Cache                            what backward needs besides x and y
///   forward(θ_layer, x, y, cache), backward(θ_layer, x, y, cache, ∂L/∂y, ∂L/∂θ_layer, ∂L/∂x or null)
/// where θ_layer points at the layer's own parameters. Activations need no Bound: any type
/// satisfying symflow::Activation is wrapped in ActivationLayer.

#include <tuple>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/activation_layer.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

namespace detail {

template <class T, class = void> struct has_bound : std::false_type {};
template <class T> struct has_bound<T, std::void_t<typename T::template Bound<double, 1, 1, 1>>> : std::true_type {};

/// The layer a type in the layer list stands for.
template <class T> struct layer_of { using type = std::conditional_t<has_bound<T>::value, T, ActivationLayer<T>>; };

/// The bound layers of a list, each on the output shape of the one before.
template <class S, int C, int H, int W, class... Specs>
struct bind_layers {
  using type = std::tuple<>;
  static constexpr int out_c = C, out_h = H, out_w = W;
};
template <class S, int C, int H, int W, class First, class... Rest>
struct bind_layers<S, C, H, W, First, Rest...> {
  using Head = typename layer_of<First>::type::template Bound<S, C, H, W>;
  using Tail = bind_layers<S, Head::out_c, Head::out_h, Head::out_w, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<Head>>(), std::declval<typename Tail::type>()));
  static constexpr int out_c = Tail::out_c, out_h = Tail::out_h, out_w = Tail::out_w;
};

template <class... L> constexpr int sum_params(std::type_identity<std::tuple<L...>>) {
  int total = 0;
  ((total = add_sizes(total, L::num_params)), ...);
  return total;
}

template <int First, int Last, class F>
constexpr void for_each_index(F&& f) {
  if constexpr (First <= Last) {
    f.template operator()<First>();
    for_each_index<First + 1, Last>(std::forward<F>(f));
  }
}

template <class S, int C, int H, int W, class... Specs>
class Chain {
  using Binding = bind_layers<S, C, H, W, Specs...>;

 public:
  using Scalar = S;
  using Layers = typename Binding::type;
  /// Number of layers in the list (activations and normalisations count).
  static constexpr int num_layers = static_cast<int>(sizeof...(Specs));
  template <int I> using Layer = std::tuple_element_t<I - 1, Layers>;
  static constexpr int input_width = mul_sizes(mul_sizes(C, H), W);
  static constexpr int output_width = mul_sizes(mul_sizes(Binding::out_c, Binding::out_h), Binding::out_w);
  static constexpr int out_c = Binding::out_c, out_h = Binding::out_h, out_w = Binding::out_w;
  /// Σ of the layers' parameter counts (Dynamic if any is).
  static constexpr int total_params = sum_params(std::type_identity<Layers>{});

  template <int I> static constexpr int width_after() {
    if constexpr (I == 0) return input_width;
    else return Layer<I>::out_width;
  }
  /// Features after layer I (I = 0: the input) for K samples.
  template <int I, int K> using Features = FeatureMatrix<S, width_after<I>(), K>;

  Chain(Shape in, const std::tuple<Specs...>& specs) : specs_(specs), layers_(bind<1>(in)), in_(in) {
    Index offset = 0;
    for_each_index<1, num_layers>([&]<int I>() {
      offsets_[I - 1] = offset;
      offset += layer<I>().size();
    });
    offsets_[num_layers] = offset;
  }

  template <int I> const Layer<I>& layer() const { return std::get<I - 1>(layers_); }
  /// Offset of layer I's parameters in the block, and the block's length.
  Index offset(int i) const { return offsets_[i - 1]; }
  Index param_count() const { return offsets_[num_layers]; }
  Shape in_shape() const { return in_; }
  Shape out_shape() const {
    if constexpr (num_layers == 0) return in_;
    else return layer<num_layers>().out_shape();
  }
  const std::tuple<Specs...>& specs() const { return specs_; }

  /// Everything one forward pass keeps: the features after each layer, and each layer's cache.
  template <int K>
  struct ForwardPass {
    template <int... I>
    static auto features(std::integer_sequence<int, I...>) -> std::tuple<Features<I, K>...>;
    template <int... I>
    static auto caches(std::integer_sequence<int, I...>) -> std::tuple<typename Layer<I + 1>::template Cache<K>...>;
    decltype(features(std::make_integer_sequence<int, num_layers + 1>{})) f;
    decltype(caches(std::make_integer_sequence<int, num_layers>{})) c;
    template <int I> auto& at() { return std::get<I>(f); }
    template <int I> const auto& at() const { return std::get<I>(f); }
    const Features<num_layers, K>& output() const { return std::get<num_layers>(f); }
  };

  /// Runs the layers on x (already in pass.at<0>()).
  template <int K>
  void run_forward(const S* theta, ForwardPass<K>& pass) const {
    for_each_index<1, num_layers>([&]<int I>() {
      auto& y = pass.template at<I>();
      y.resize(layer<I>().out_shape().size(), pass.template at<0>().cols());
      layer<I>().template forward<K>(theta + offsets_[I - 1], pass.template at<I - 1>(), y, std::get<I - 1>(pass.c));
    });
  }

  /// Back-propagates ∂L/∂(output) = g; writes the block's gradient at `grad` and, if asked, ∂L/∂x
  /// (input_gradient: a Features<0, K>*, or std::nullptr_t when it is never asked for, which the
  /// first layer then does not compile).
  template <int K, class GX>
  void run_backward(const S* theta, const ForwardPass<K>& pass, const Features<num_layers, K>& g, S* grad,
                    GX input_gradient) const {
    if constexpr (num_layers == 0) {
      if constexpr (!std::is_null_pointer_v<GX>) {
        if (input_gradient) *input_gradient = g;
      }
    } else {
      backward_from<num_layers, K>(theta, pass, g, grad, input_gradient);
    }
  }

  /// The same layers over another scalar.
  template <class S2> using Rebind = Chain<S2, C, H, W, Specs...>;

 private:
  template <int I>
  auto bind(Shape in) const {
    if constexpr (I > num_layers) {
      return std::tuple<>{};
    } else {
      Layer<I> l(std::get<I - 1>(specs_), in);
      const Shape next = l.out_shape();
      return std::tuple_cat(std::tuple<Layer<I>>(std::move(l)), bind<I + 1>(next));
    }
  }

  template <int I, int K, class GX>
  void backward_from(const S* theta, const ForwardPass<K>& pass, const Features<I, K>& g, S* grad,
                     GX input_gradient) const {
    const auto& l = layer<I>();
    if constexpr (I > 1) {
      Features<I - 1, K> back(l.in_shape().size(), g.cols());
      l.template backward<K>(theta + offsets_[I - 1], pass.template at<I - 1>(), pass.template at<I>(),
                             std::get<I - 1>(pass.c), g, grad + offsets_[I - 1], &back);
      backward_from<I - 1, K>(theta, pass, back, grad, input_gradient);
    } else {
      l.template backward<K>(theta + offsets_[0], pass.template at<0>(), pass.template at<1>(), std::get<0>(pass.c), g,
                             grad + offsets_[0], input_gradient);
    }
  }

  std::tuple<Specs...> specs_;
  Layers layers_;
  std::array<Index, num_layers + 1> offsets_{};
  Shape in_;
};

}  // namespace detail
}  // namespace symflow
