// SPDX-License-Identifier: MIT
#pragma once
/// \file Models whose list of layers is chosen at run time (from a configuration file, a script, a
/// Python list), the counterpart of symflow::Sequential, whose list is a template argument:
///
///   RuntimeSequential<double> net(Shape{1, 28, 28}, {Conv2dLayer{8, 3, 1, 1}, ReLU{},
///                                                    DenseLayer{10}, BatchNorm{}, ReLU{},
///                                                    DenseWithBiasLayer{10}});
///
/// Each layer is one of RuntimeLayer's alternatives: Dense (with or without bias), Conv2d (with or
/// without bias; channels, kernel, stride and padding at run time), LayerNorm, BatchNorm, and the
/// built-in activations Identity, ReLU, LeakyReLU (slope), Homogeneous (α), Tanh, Sigmoid.
/// Residual blocks and user activations need the compile-time Sequential.
///
/// The layers are the very classes Sequential binds (their Bound<Scalar, Dynamic, Dynamic, Dynamic>,
/// held in a std::variant): the same forward and back-propagation code runs, and θ has the same
/// layout as the Sequential with the same layers — layer after layer in list order, layers
/// numbered 1, …, layer_count(). Samples are columns, as everywhere in symflow.
///
/// RuntimeSequential has the members symflow::Objective uses (forward, backward, ForwardPass, cast,
/// check_params, …), so value, gradient, the exact Hessian-vector product (dual numbers through the
/// same layers) and the Hessian come from Objective as for Sequential.

#include <string>
#include <concepts>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/layers/activation_layer.hpp"
#include "symflow/model/layers/chain.hpp"
#include "symflow/model/layers/conv2d.hpp"
#include "symflow/model/layers/dense.hpp"
#include "symflow/model/layers/normalization.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

/// Dense layers with a run-time width: `DenseLayer{units}` (no bias), `DenseWithBiasLayer{units}`.
using DenseLayer = Dense<Dynamic>;
using DenseWithBiasLayer = Dense<Dynamic, WithBias>;
/// Convolutions with run-time geometry: `Conv2dLayer{channels, kernel, stride, padding}` (with bias,
/// as PyTorch's default), `Conv2dNoBiasLayer{…}`.
using Conv2dLayer = Conv2d<Dynamic, Dynamic, Dynamic, Dynamic, WithBias>;
using Conv2dNoBiasLayer = Conv2d<Dynamic, Dynamic, Dynamic, Dynamic, NoBias>;

/// One layer of a RuntimeSequential, as its specification (its run-time options).
using RuntimeLayer = std::variant<DenseLayer, DenseWithBiasLayer, Conv2dLayer, Conv2dNoBiasLayer, LayerNorm, BatchNorm,
                                  Identity, ReLU, LeakyReLU, Homogeneous, Tanh, Sigmoid>;

/// The name of a layer's kind: dense, dense_with_bias, conv2d, layer_norm, relu, … (its type's name()).
/// (A template only so that files that never call it do not compile the visit over every kind.)
template <std::same_as<RuntimeLayer> Layer>
std::string layer_name(const Layer& layer) {
  return std::visit([](const auto& l) { return l.name(); }, layer);
}

namespace detail {

/// The layers of RuntimeLayer bound over scalar S with every extent Dynamic, as one variant.
template <class S, class Specs> struct runtime_bound;
template <class S, class... Specs>
struct runtime_bound<S, std::variant<Specs...>> {
  using type = std::variant<typename layer_of<Specs>::type::template Bound<S, Dynamic, Dynamic, Dynamic>...>;
};

/// What back-propagation keeps of each layer for K samples, one alternative per layer kind.
template <class Layers, int K> struct runtime_caches;
template <class... L, int K>
struct runtime_caches<std::variant<L...>, K> {
  using type = std::variant<typename L::template Cache<K>...>;
};

}  // namespace detail

template <class Scalar_>
class RuntimeSequential {
 public:
  using Scalar = Scalar_;
  /// A layer bound to its input shape over Scalar: a variant of the layers' Bound classes.
  using Layer = typename detail::runtime_bound<Scalar, RuntimeLayer>::type;
  // Sizes and depth are known at run time only.
  static constexpr int depth = Dynamic;
  static constexpr int input_width = Dynamic;
  static constexpr int output_width = Dynamic;
  static constexpr int static_num_params = Dynamic;
  static constexpr int num_params = Dynamic;
  static constexpr bool is_fixed = false;
  using Params = Eigen::Matrix<Scalar, Dynamic, 1>;
  /// Features after any layer for K samples (the layer index I is there for Sequential's interface).
  template <int I, int K> using Features = Eigen::Matrix<Scalar, Dynamic, K>;
  template <class S> using Rebind = RuntimeSequential<S>;

  /// The features after every layer (entry 0: the input) and every layer's cache.
  template <int K>
  struct ForwardPass {
    std::vector<Features<0, K>> features;
    std::vector<typename detail::runtime_caches<Layer, K>::type> caches;
    const Features<0, K>& output() const { return features.back(); }
  };

  /// The layers in list order on samples of shape `input`; throws std::invalid_argument naming the
  /// layer (its number and kind) whose options or input shape do not fit.
  RuntimeSequential(Shape input, std::vector<RuntimeLayer> layers) : specs_(std::move(layers)), in_(input) {
    if (specs_.empty()) throw std::invalid_argument("symflow::RuntimeSequential: the model needs at least one layer");
    detail::require_extent("RuntimeSequential", "the input channels", Dynamic, input.channels);
    detail::require_extent("RuntimeSequential", "the input height", Dynamic, input.height);
    detail::require_extent("RuntimeSequential", "the input width", Dynamic, input.width);
    layers_.reserve(specs_.size());
    offsets_.assign(1, 0);
    Shape shape = input;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      try {
        layers_.push_back(std::visit([&](const auto& spec) { return bind(spec, shape); }, specs_[i]));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("symflow::RuntimeSequential: layer " + std::to_string(i + 1) + " (" +
                                    layer_name(specs_[i]) + ") on input " + shape.str() + ": " + e.what());
      }
      shape = std::visit([](const auto& l) { return l.out_shape(); }, layers_.back());
      offsets_.push_back(offsets_.back() + std::visit([](const auto& l) { return l.size(); }, layers_.back()));
    }
  }

  /// The same layers over another scalar type (dual numbers for Hessian-vector products).
  template <class S>
  Rebind<S> cast() const { return Rebind<S>(in_, specs_); }

  /// Number of layers in the list (activations and normalisations count).
  Index layer_count() const { return static_cast<Index>(specs_.size()); }
  /// Layer i (1, …, layer_count()) bound to its input shape, and its specification.
  const Layer& layer(Index i) const { return layers_[checked_layer(i)]; }
  const RuntimeLayer& spec(Index i) const { return specs_[checked_layer(i)]; }
  const std::vector<RuntimeLayer>& specs() const { return specs_; }
  /// Offset of layer i's parameters in θ, and their number.
  Index offset(Index i) const { return offsets_[checked_layer(i)]; }
  Index layer_size(Index i) const { return offsets_[checked_layer(i) + 1] - offsets_[checked_layer(i)]; }
  /// Shape of the samples layer i reads and writes.
  Shape layer_input_shape(Index i) const { return std::visit([](const auto& l) { return l.in_shape(); }, layer(i)); }
  Shape layer_output_shape(Index i) const { return std::visit([](const auto& l) { return l.out_shape(); }, layer(i)); }
  Shape input_shape() const { return in_; }
  Shape output_shape() const { return layer_output_shape(layer_count()); }
  Index input_size() const { return in_.size(); }
  Index output_size() const { return output_shape().size(); }
  /// d.
  Index size() const { return offsets_.back(); }
  Params zero_params() const { return Params::Zero(size()); }

  /// Runs the network on X and keeps every layer's features and cache in `pass`.
  template <int K, class DerivedP, class DerivedX>
  void forward(const Eigen::MatrixBase<DerivedP>& p, const Eigen::MatrixBase<DerivedX>& x, ForwardPass<K>& pass) const {
    check_params(p);
    check_input(x);
    const Scalar* theta = static_cast<const Scalar*>(p.derived().data());
    pass.features.resize(specs_.size() + 1);
    pass.caches.resize(specs_.size());
    pass.features[0] = x;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      std::visit(
          [&](const auto& l) {
            using L = std::remove_cvref_t<decltype(l)>;
            auto& cache = pass.caches[i].template emplace<typename L::template Cache<K>>();
            auto& y = pass.features[i + 1];
            y.resize(l.out_shape().size(), x.cols());
            l.template forward<K>(theta + offsets_[i], pass.features[i], y, cache);
          },
          layers_[i]);
    }
  }

  /// F_θ(X).
  template <class DerivedP, class DerivedX>
  Features<0, DerivedX::ColsAtCompileTime> forward(const Eigen::MatrixBase<DerivedP>& p,
                                                   const Eigen::MatrixBase<DerivedX>& x) const {
    ForwardPass<DerivedX::ColsAtCompileTime> pass;
    forward(p, x, pass);
    return std::move(pass.features.back());
  }

  /// Back-propagation: given ∂L/∂F after forward(p, X, pass), writes ∂L/∂θ into `grad` (length d)
  /// and, when `input_gradient` is not null, ∂L/∂X into it.
  template <int K, class DerivedP, class DerivedG>
  void backward(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass, const Features<0, K>& output_gradient,
                Eigen::MatrixBase<DerivedG>& grad, Features<0, K>* input_gradient = nullptr) const {
    check_params(p);
    check_params(grad);
    detail::require_shape("output gradient", output_size(), pass.output().cols(), output_gradient.rows(),
                          output_gradient.cols());
    const Scalar* theta = static_cast<const Scalar*>(p.derived().data());
    Scalar* g = grad.derived().data();
    Features<0, K> upstream = output_gradient, back;
    for (std::size_t i = specs_.size(); i-- > 0;) {
      Features<0, K>* gx = i > 0 ? &back : input_gradient;
      std::visit(
          [&](const auto& l) {
            using L = std::remove_cvref_t<decltype(l)>;
            l.template backward<K>(theta + offsets_[i], pass.features[i], pass.features[i + 1],
                                   std::get<typename L::template Cache<K>>(pass.caches[i]), upstream, g + offsets_[i], gx);
          },
          layers_[i]);
      if (i > 0) upstream.swap(back);
    }
  }

  /// Throws std::invalid_argument unless θ has length d.
  template <class Derived>
  void check_params(const Eigen::MatrixBase<Derived>& p) const {
    detail::require_params<Scalar>(size(), p);
  }
  /// Throws std::invalid_argument unless X has C·H·W rows.
  template <class DerivedX>
  void check_input(const Eigen::MatrixBase<DerivedX>& x) const {
    detail::require_input(in_, x.rows(), x.cols());
  }

 private:
  template <class Spec>
  static Layer bind(const Spec& spec, Shape in) {
    using Bound = typename detail::layer_of<Spec>::type::template Bound<Scalar, Dynamic, Dynamic, Dynamic>;
    return Layer(std::in_place_type<Bound>, spec, in);
  }
  std::size_t checked_layer(Index i) const {
    if (i < 1 || i > layer_count())
      throw std::invalid_argument("symflow::RuntimeSequential: layer " + std::to_string(i) +
                                  " does not exist; layers are numbered 1, …, " + std::to_string(layer_count()));
    return static_cast<std::size_t>(i - 1);
  }

  std::vector<RuntimeLayer> specs_;
  std::vector<Layer> layers_;
  std::vector<Index> offsets_;
  Shape in_;
};

}  // namespace symflow
