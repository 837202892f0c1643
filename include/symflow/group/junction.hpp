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

#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/residual_block.hpp"
#include "symflow/model/sequential.hpp"

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

/// Whether I names a junction of Model: hidden layers 1, …, depth − 1 of a stack of dense layers.
/// A model with another layout specialises it together with junction<Model, I>.
template <class Model, int I>
inline constexpr bool is_junction = I >= 1 && I <= Model::depth - 1;

namespace detail {
template <class Model, int I, int Last, int... Kept>
struct collect_junctions {
  using type = typename std::conditional_t<is_junction<Model, I>, collect_junctions<Model, I + 1, Last, Kept..., I>,
                                           collect_junctions<Model, I + 1, Last, Kept...>>::type;
};
template <class Model, int Last, int... Kept>
struct collect_junctions<Model, Last, Last, Kept...> {
  using type = std::integer_sequence<int, Kept...>;
};
}  // namespace detail

/// The junctions of a model in increasing order, as std::integer_sequence<int, I…>.
template <class Model>
using junction_indices = typename detail::collect_junctions<Model, 1, Model::depth + 1>::type;

/// The number of junctions of a model (Model::depth − 1 for a stack of dense layers).
template <class Model>
inline constexpr int junction_count = static_cast<int>(junction_indices<Model>::size());

namespace detail {
template <int... I>
constexpr int last_index(std::integer_sequence<int, I...>) {
  int last = 0;
  ((last = I), ...);
  return last;
}
}  // namespace detail

namespace detail {
/// "1, 3": the junctions I… as a list for messages ("none" if there are none).
template <int... I>
std::string junction_list(std::integer_sequence<int, I...>) {
  std::string list;
  ((list += (list.empty() ? "" : ", ") + std::to_string(I)), ...);
  return list.empty() ? "none" : list;
}
}  // namespace detail

/// The model's last junction (depth − 1 for a stack of dense layers; 0 if it has none).
template <class Model>
inline constexpr int last_junction = detail::last_index(junction_indices<Model>{});

/// Junction I (is_junction<Model, I>) of a model with Mlp's interface.
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

// A Sequential's junctions are named, as in symflow::conserved<I>, by their incoming layer I: a Dense
// layer that an activation (layer I + 1) and a Dense layer (I + 2) follow. Convolutions act on
// channels and normalisation layers on scales: their symmetries are those of symflow/junction.hpp.
// The layers inside a residual block (symflow::residual_block<R>(net)) are a list of their own, with
// the same junctions; a junction across the block's skip connection has none.
namespace detail {
template <class Net, int I>
consteval bool is_dense_junction() {
  if constexpr (I >= 1 && I + 2 <= Net::num_layers) {
    using In = typename Net::template Layer<I>;
    using Act = typename Net::template Layer<I + 1>;
    using Out = typename Net::template Layer<I + 2>;
    return requires { requires In::is_dense; } && requires { typename Act::ActivationType; } &&
           requires { requires Out::is_dense; };
  } else {
    return false;
  }
}

/// Junction I of a list of layers (a Sequential or a residual block's layers).
template <class Model, int I>
struct layer_list_junction {
  static_assert(is_dense_junction<Model, I>(),
                "symflow: a junction of a Sequential is named by its incoming Dense layer I, which an activation "
                "(layer I + 1) and a Dense layer (layer I + 2) follow; for a convolution or a normalisation layer "
                "use symflow::conserved<I> and the junction actions of symflow/junction.hpp; the layers inside a "
                "Residual block at layer R are those of symflow::residual_block<R>(net)");
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Activation = typename Model::template Layer<I + 1>::ActivationType;
  static constexpr int width = Model::template Layer<I>::out_width;
  static constexpr bool has_bias = Model::template Layer<I>::has_bias;

  static Index hidden(const Model& m) { return m.template layer<I>().out_units(); }
  static const Activation& activation(const Model& m) { return m.template layer<I + 1>().activation(); }
  template <class P> static auto in_weight(const Model& m, P& p) { return m.template weight<I>(p); }
  template <class P> static auto in_bias(const Model& m, P& p) { return m.template bias<I>(p); }
  template <class P> static auto out_weight(const Model& m, P& p) { return m.template weight<I + 2>(p); }
};
}  // namespace detail

template <class S, class InputShape, class... Specs, int I>
inline constexpr bool is_junction<Sequential<S, InputShape, Specs...>, I> =
    detail::is_dense_junction<Sequential<S, InputShape, Specs...>, I>();
template <class Net, int R, int I>
inline constexpr bool is_junction<ResidualBlock<Net, R>, I> = detail::is_dense_junction<ResidualBlock<Net, R>, I>();

template <class S, class InputShape, class... Specs, int I>
struct junction<Sequential<S, InputShape, Specs...>, I>
    : detail::layer_list_junction<Sequential<S, InputShape, Specs...>, I> {};
template <class Net, int R, int I>
struct junction<ResidualBlock<Net, R>, I> : detail::layer_list_junction<ResidualBlock<Net, R>, I> {};

}  // namespace symflow
