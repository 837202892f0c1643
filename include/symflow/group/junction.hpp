// SPDX-License-Identifier: MIT
#pragma once
/// \file A junction of a model: hidden layer i, with what a linear symmetry of it acts on — the
/// incoming weight W_i (h × n_{i−1}) and bias b_i (h) that form the pre-activation z = W_i a + b_i,
/// the activation σ applied to z, and the outgoing weight W_{i+1} (n_{i+1} × h) that reads σ(z).
///
/// g ∈ G acts on the junction by W_i ↦ g W_i, b_i ↦ g b_i, W_{i+1} ↦ W_{i+1} π(g)⁻¹; this is all a
/// group policy needs to know about the model. symflow::junction<Model, i> reads it from a model
/// with Mlp's interface (weight<I>(θ), bias<I>(θ), static_widths, width(i), has_bias, depth, and
/// activation() — or activation<I>() when each junction has its own activation). A model with
/// another layout specialises symflow::junction<TheirModel, I> with the same members (see
/// docs/symmetries.md, "your own group / your own activation").

#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"

namespace symflow {

namespace detail {
/// The activation of junction I: model.activation<I>() if the model has one per junction, else
/// model.activation().
template <int I, class Model>
decltype(auto) junction_activation(const Model& model) {
  if constexpr (requires { model.template activation<I>(); }) return model.template activation<I>();
  else return model.activation();
}
}  // namespace detail

/// The number of junctions (hidden layers) of a model: Model::depth − 1 for a stack of dense layers.
template <class Model>
inline constexpr int junction_count = Model::depth - 1;

/// Junction I (1 ≤ I ≤ junction_count<Model>) of a model with Mlp's interface.
template <class Model, int I>
struct junction {
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Activation = std::remove_cvref_t<decltype(detail::junction_activation<I>(std::declval<const Model&>()))>;
  /// h, the width of the hidden layer, if known at compile time (else Dynamic).
  static constexpr int width = Model::static_widths[I];
  /// Whether the incoming layer has a bias b_i (acted on like a column of W_i).
  static constexpr bool has_bias = Model::has_bias;

  static Index hidden(const Model& m) { return m.width(I); }
  static decltype(auto) activation(const Model& m) { return detail::junction_activation<I>(m); }
  /// W_i: g multiplies it from the left.
  template <class P> static auto in_weight(const Model& m, P& p) { return m.template weight<I>(p); }
  /// b_i: g multiplies it from the left.
  template <class P> static auto in_bias(const Model& m, P& p) { return m.template bias<I>(p); }
  /// W_{i+1}: π(g)⁻¹ multiplies it from the right.
  template <class P> static auto out_weight(const Model& m, P& p) { return m.template weight<I + 1>(p); }
};

}  // namespace symflow
