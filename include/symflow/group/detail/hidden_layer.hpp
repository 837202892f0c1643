// SPDX-License-Identifier: MIT
#pragma once
/// \file What every action on one hidden layer i of a model shares: the model, the layer's width
/// h = n_i, and views of the parameters the action touches, read through symflow::junction: the rows
/// of W_i and b_i (the layer's pre-activation z = W_i a + b_i is what g multiplies) and the columns
/// of W_{i+1} (which undo π(g) after the activation).

#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow::detail {

/// The members of a layered model that hidden-layer actions use (symflow::Mlp and BiasedMlp have them).
template <class M>
concept LayeredModel = requires(const M& m, typename M::Params& p, const typename M::Params& cp) {
  typename M::Scalar;
  typename M::Params;
  { M::depth } -> std::convertible_to<int>;
  { m.size() } -> std::convertible_to<Index>;
  { m.zero_params() } -> std::convertible_to<typename M::Params>;
  m.check_params(cp);
};

template <class Model, int Layer>
constexpr bool check_hidden_layer_index() {
  static_assert(LayeredModel<Model>,
                "symflow: hidden-layer actions need a layered model such as symflow::Mlp or symflow::BiasedMlp");
  static_assert(is_junction<Model, Layer>,
                "symflow: this index names no junction of the model: hidden layers of an Mlp are numbered 1, …, "
                "L − 1 (hidden layer i sits between W_i and W_{i+1}); a junction of a Sequential is named by its "
                "incoming Dense layer I, which an activation and a Dense layer follow (convolutions and normalisation "
                "layers have the channel and scale symmetries of symflow/junction.hpp, conserved<I>); a Residual "
                "block at layer R is no junction: the junctions inside it are those of "
                "symflow::residual_block<R>(net), and no group of the residual stream survives the skip connection");
  return is_junction<Model, Layer>;
}

template <class Model, int Layer, bool = check_hidden_layer_index<Model, Layer>()>
class HiddenLayer;

template <class Model, int Layer>
class HiddenLayer<Model, Layer, true> {
 public:
  using ModelType = Model;
  using Junction = junction<Model, Layer>;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Activation = typename Junction::Activation;
  /// The hidden layer i this action transforms.
  static constexpr int layer = Layer;
  /// h = n_i if known at compile time, else Dynamic.
  static constexpr int width_at_compile_time = Junction::width;

  explicit HiddenLayer(Model model) : model_(std::move(model)) {}

  const Model& model() const { return model_; }
  /// h = n_i, the width of the hidden layer.
  Index hidden() const { return Junction::hidden(model_); }
  /// σ of this hidden layer.
  decltype(auto) activation() const { return Junction::activation(model_); }

 protected:
  /// W_i (h × n_{i−1}): g multiplies it from the left.
  template <class P> auto in_weight(P& p) const { return Junction::in_weight(model_, p); }
  /// W_{i+1} (n_{i+1} × h): π(g)⁻¹ multiplies it from the right.
  template <class P> auto out_weight(P& p) const { return Junction::out_weight(model_, p); }
  /// b_i (h): g multiplies it from the left.
  template <class P> auto in_bias(P& p) const { return Junction::in_bias(model_, p); }

  template <class D> void check_square(const char* what, const Eigen::MatrixBase<D>& m) const {
    detail::require_shape(what, hidden(), hidden(), m.rows(), m.cols());
  }
  template <class D> void check_vector(const char* what, const Eigen::MatrixBase<D>& v) const {
    detail::require_length(what, hidden(), v.size());
  }

  Model model_;
};

}  // namespace symflow::detail
