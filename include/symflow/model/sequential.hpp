// SPDX-License-Identifier: MIT
#pragma once
/// \file Models composed from layers, written the way one reads the network:
///
///   Sequential<double, Input<784>, Dense<64>, ReLU, Dense<32, WithBias>, Tanh, Dense<10>>
///   Sequential<float, Input<1, 28, 28>, Conv2d<8, 3, 1, 1>, ReLU, BatchNorm, Dense<10, WithBias>>
///
/// Layers: Dense (symflow/model/layers/dense.hpp), any activation at any position (built-in or a
/// user's), Conv2d (conv2d.hpp), LayerNorm and BatchNorm (normalization.hpp), Residual<…> around a
/// sub-sequence (residual.hpp). Softmax cross-entropy is a loss (symflow::SoftmaxCrossEntropy) on
/// the last layer's output. Samples are columns (a C×H×W sample flattened as in shape.hpp).
///
/// All parameters live in one flat θ ∈ R^d, layer after layer in list order; weight<I>(θ) and
/// bias<I>(θ) are Eigen::Map views of layer I (numbered 1, …, num_layers in the list, activations
/// included). Widths fixed at compile time give fixed-size features and, for d ≤ 4096, a
/// fixed-size θ (larger θ live on the heap); Dynamic extents are given at construction, e.g.
///
///   Sequential<double, Input<Dynamic>, Dense<Dynamic>, ReLU, Dense<3>> net(Shape{4}, Dense<Dynamic>{16}, ReLU{}, Dense<3>{});
///
/// Sequential has the members symflow::Objective uses (forward, backward, ForwardPass, cast,
/// check_params, …), so value, gradient, the exact Hessian-vector product and the Hessian come from
/// Objective through the same dual-number path as for Mlp.

#include <array>
#include <string>
#include <tuple>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/activation_layer.hpp"
#include "symflow/model/layers/chain.hpp"
#include "symflow/model/layers/conv2d.hpp"
#include "symflow/model/layers/dense.hpp"
#include "symflow/model/layers/normalization.hpp"
#include "symflow/model/layers/residual.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

template <class T> struct is_input : std::false_type {};
template <int C, int H, int W> struct is_input<Input<C, H, W>> : std::true_type {};

namespace detail {
/// weight<I>(θ) and bias<I>(θ): layer I's weight and bias as views into θ, for a list of layers
/// (Derived provides Scalar, Layer<I>, layer<I>(), offset(I) and check_params).
template <class Derived>
class LayerViews {
 public:
  template <int I, class D> auto weight(Eigen::MatrixBase<D>& p) const {
    self().check_params(p);
    return self().template layer<I>().weight(p.derived().data() + self().offset(I));
  }
  template <int I, class D> auto weight(const Eigen::MatrixBase<D>& p) const {
    self().check_params(p);
    return self().template layer<I>().weight(static_cast<const typename Derived::Scalar*>(p.derived().data()) +
                                             self().offset(I));
  }
  template <int I, class D> auto bias(Eigen::MatrixBase<D>& p) const {
    static_assert(Derived::template Layer<I>::has_bias, "symflow::Sequential: this layer has no bias (use WithBias)");
    self().check_params(p);
    return self().template layer<I>().bias(p.derived().data() + self().offset(I));
  }
  template <int I, class D> auto bias(const Eigen::MatrixBase<D>& p) const {
    static_assert(Derived::template Layer<I>::has_bias, "symflow::Sequential: this layer has no bias (use WithBias)");
    self().check_params(p);
    return self().template layer<I>().bias(static_cast<const typename Derived::Scalar*>(p.derived().data()) +
                                           self().offset(I));
  }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};
}  // namespace detail

template <class Scalar_, class InputShape, class... Specs>
class Sequential : public detail::LayerViews<Sequential<Scalar_, InputShape, Specs...>> {
  static_assert(is_input<InputShape>::value,
                "symflow::Sequential<Scalar, Input<…>, Layers…>: the second parameter is the input shape, "
                "symflow::Input<n> or symflow::Input<C, H, W> (extents may be symflow::Dynamic)");
  static_assert(sizeof...(Specs) >= 1, "symflow::Sequential needs at least one layer");
  using Core = detail::Chain<Scalar_, InputShape::channels, InputShape::height, InputShape::width, Specs...>;

 public:
  using Scalar = Scalar_;
  using Input = InputShape;
  /// Number of layers in the list; the output is the features after layer `depth`.
  static constexpr int depth = Core::num_layers;
  static constexpr int num_layers = Core::num_layers;
  template <int I> using Layer = typename Core::template Layer<I>;
  static constexpr int input_width = Core::input_width;
  static constexpr int output_width = Core::output_width;
  /// The true number of parameters at compile time (Dynamic if unknown).
  static constexpr int static_num_params = Core::total_params;
  /// Length of Params at compile time: fixed when known and ≤ 4096, else Dynamic (heap).
  static constexpr int num_params = (static_num_params != Dynamic && static_num_params <= 4096) ? static_num_params : Dynamic;
  static constexpr bool is_fixed = static_num_params != Dynamic && output_width != Dynamic && input_width != Dynamic;
  using Params = Eigen::Matrix<Scalar, num_params, 1>;
  template <int I, int K> using Features = typename Core::template Features<I, K>;
  template <int K> using ForwardPass = typename Core::template ForwardPass<K>;
  template <class S> using Rebind = Sequential<S, InputShape, Specs...>;

  /// Everything fixed at compile time (default-constructed layers).
  Sequential()
    requires(InputShape::is_fixed && is_fixed)
      : Sequential(Shape{InputShape::channels, InputShape::height, InputShape::width}, Specs{}...) {}
  /// Input shape fixed at compile time, layers given (e.g. a LeakyReLU slope, a LayerNorm ε).
  explicit Sequential(Specs... specs)
    requires InputShape::is_fixed
      : Sequential(Shape{InputShape::channels, InputShape::height, InputShape::width}, std::move(specs)...) {}
  /// Input shape at run time (must match its fixed extents), then the layers.
  explicit Sequential(Shape input, Specs... specs) : core_(checked(input), std::tuple<Specs...>(std::move(specs)...)) {}
  Sequential(Shape input, const std::tuple<Specs...>& specs) : core_(checked(input), specs) {}

  /// The same layers over another scalar type (dual numbers for Hessian-vector products).
  template <class S>
  Rebind<S> cast() const { return Rebind<S>(core_.in_shape(), core_.specs()); }

  /// Layer I (1, …, num_layers) bound to its input shape.
  template <int I> const Layer<I>& layer() const { check_layer<I>(); return core_.template layer<I>(); }
  /// Offset of layer I's parameters in θ.
  Index offset(int i) const { return core_.offset(i); }
  Shape input_shape() const { return core_.in_shape(); }
  Shape output_shape() const { return core_.out_shape(); }
  Index input_size() const { return core_.in_shape().size(); }
  Index output_size() const { return core_.out_shape().size(); }
  /// d.
  Index size() const { return core_.param_count(); }
  Params zero_params() const { return Params::Zero(size()); }
  const auto& specs() const { return core_.specs(); }
  const Core& chain() const { return core_; }

  /// Weight of layer I as a view into θ (Dense: out × in, column-major; Conv2d: out × (in·K·K),
  /// row-major = PyTorch's (out, in, kh, kw)), and its bias: weight<I>(θ), bias<I>(θ).
  using detail::LayerViews<Sequential>::weight;
  using detail::LayerViews<Sequential>::bias;

  /// Runs the network on X and keeps every layer's features in `pass`.
  template <int K, class DerivedP, class DerivedX>
  void forward(const Eigen::MatrixBase<DerivedP>& p, const Eigen::MatrixBase<DerivedX>& x, ForwardPass<K>& pass) const {
    check_params(p);
    check_input(x);
    pass.template at<0>() = x;
    core_.run_forward(static_cast<const Scalar*>(p.derived().data()), pass);
  }

  /// F_θ(X).
  template <class DerivedP, class DerivedX>
  Features<depth, DerivedX::ColsAtCompileTime> forward(const Eigen::MatrixBase<DerivedP>& p,
                                                       const Eigen::MatrixBase<DerivedX>& x) const {
    ForwardPass<DerivedX::ColsAtCompileTime> pass;
    forward(p, x, pass);
    return pass.output();
  }

  /// Back-propagation: given ∂L/∂F after forward(p, X, pass), writes ∂L/∂θ into `grad` (length d)
  /// and, when `input_gradient` is not null, ∂L/∂X into it. Without that argument the first layer's
  /// input-gradient product is not compiled at all (an Eigen GEMM of its own type per scalar).
  template <int K, class DerivedP, class DerivedG>
  void backward(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass, const Features<depth, K>& output_gradient,
                Eigen::MatrixBase<DerivedG>& grad, Features<0, K>* input_gradient) const {
    backward_into(p, pass, output_gradient, grad, input_gradient);
  }
  template <int K, class DerivedP, class DerivedG>
  void backward(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass, const Features<depth, K>& output_gradient,
                Eigen::MatrixBase<DerivedG>& grad) const {
    backward_into(p, pass, output_gradient, grad, nullptr);
  }

  /// Throws std::invalid_argument unless θ has length d.
  template <class Derived>
  void check_params(const Eigen::MatrixBase<Derived>& p) const {
    detail::require_params<Scalar>(size(), p);
  }
  /// Throws std::invalid_argument unless X has C·H·W rows.
  template <class DerivedX>
  void check_input(const Eigen::MatrixBase<DerivedX>& x) const {
    static_assert(DerivedX::RowsAtCompileTime == Dynamic || input_width == Dynamic ||
                      DerivedX::RowsAtCompileTime == input_width,
                  "symflow: the input X must have C·H·W rows (samples are columns)");
    detail::require_input(input_shape(), x.rows(), x.cols());
  }

 private:
  template <int I> static constexpr void check_layer() {
    static_assert(I >= 1 && I <= depth, "symflow::Sequential: layers are numbered 1, …, num_layers in list order");
  }
  static Shape checked(Shape in) {
    detail::require_extent("Sequential", "the input channels", InputShape::channels, in.channels);
    detail::require_extent("Sequential", "the input height", InputShape::height, in.height);
    detail::require_extent("Sequential", "the input width", InputShape::width, in.width);
    return in;
  }
  template <int K, class DerivedP, class DerivedG, class GX>
  void backward_into(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass,
                     const Features<depth, K>& output_gradient, Eigen::MatrixBase<DerivedG>& grad, GX input_gradient) const {
    check_params(p);
    check_params(grad);
    detail::require_shape("output gradient", output_size(), pass.output().cols(), output_gradient.rows(),
                          output_gradient.cols());
    core_.run_backward(static_cast<const Scalar*>(p.derived().data()), pass, output_gradient, grad.derived().data(),
                       input_gradient);
  }
  Core core_;
};

template <class T> struct is_sequential : std::false_type {};
template <class S, class I, class... L> struct is_sequential<Sequential<S, I, L...>> : std::true_type {};

/// Any symflow::Sequential model.
template <class T>
concept SequentialModel = is_sequential<std::remove_cvref_t<T>>::value;

}  // namespace symflow
