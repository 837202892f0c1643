// SPDX-License-Identifier: MIT
#pragma once
/// \file conserved<I>(net) and conserved<I>(net, loss): the quantities of the junction that starts
/// at parameterised layer I of a symflow::Sequential, deduced from the layers that follow it (and,
/// for the last layer, from the loss), as a std::tuple:
///
/// | after layer I (Dense or Conv2d)                      | quantities                               |
/// | ---------------------------------------------------- | ---------------------------------------- |
/// | LayerNorm                                            | NormalizedScale (one value); with Dense also Translation |
/// | BatchNorm                                            | NormalizedScale (one value per unit)     |
/// | GL-equivariant σ (Identity), then Dense/Conv2d       | LinearImbalance (h × h)                  |
/// | positively homogeneous σ (ReLU, …), then Dense/Conv2d | RescaleImbalance (one value per unit)   |
/// | nothing (I is last), loss SoftmaxCrossEntropy, Dense | Translation                              |
///
/// The layers inside a Residual block at layer R are reached as a list of their own,
/// conserved<J>(residual_block<R>(net)) (symflow/model/residual_block.hpp): the group of a junction
/// inside f leaves f, hence x + f(x), unchanged. Anything else (tanh, sigmoid, a junction across a
/// block's skip connection, …) has no junction symmetry that symflow knows, and conserved<I> says so
/// at compile time.

#include <tuple>
#include <type_traits>

#include "symflow/junction/dynamics.hpp"
#include "symflow/junction/quantities.hpp"
#include "symflow/model/residual_block.hpp"

namespace symflow {

namespace detail {
template <class> inline constexpr bool dependent_false = false;
template <class L> concept NormalizationLayer = requires { requires L::is_normalization; };
template <class L> concept ActivationLayerType = requires { typename L::ActivationType; };
template <class Net, int I> concept ResidualLayerAt = requires { requires Net::template Layer<I>::is_residual; };
/// Whether layer I + 1 or I + 2 of Net is a Residual block (the junction would cross its skip).
template <class Net, int I>
inline constexpr bool crosses_residual = []() {
  if constexpr (I + 1 > Net::num_layers) return false;
  else if constexpr (ResidualLayerAt<Net, I + 1>) return true;
  else if constexpr (I + 2 > Net::num_layers) return false;
  else return ResidualLayerAt<Net, I + 2>;
}();
}  // namespace detail

/// The conserved quantities of the junction starting at layer I (model symmetries only).
template <int I, LayerListModel Net>
auto conserved(const Net& net) {
  static_assert(I >= 1 && I <= Net::num_layers, "symflow::conserved<I>: layers are numbered 1, …, num_layers");
  using L = typename Net::template Layer<I>;
  static_assert(!detail::ResidualLayerAt<Net, I>,
                "symflow::conserved<I>: layer I is a Residual block, not a junction; the junctions inside it are "
                "symflow::conserved<J>(symflow::residual_block<I>(net)), J numbered inside the block");
  static_assert(detail::ResidualLayerAt<Net, I> || L::parameterised,
                "symflow::conserved<I>: junctions are named by their first layer with weights (Dense or Conv2d); "
                "layer I has none");
  static_assert(!detail::crosses_residual<Net, I>,
                "symflow::conserved<I>: the junction after layer I crosses a residual block's skip connection "
                "(y = x + f(x)); no group of the units of x commutes with f (docs/models.md, Residual blocks), so it "
                "conserves nothing symflow knows. Junctions inside the block: conserved<J>(residual_block<R>(net))");
  if constexpr (detail::ResidualLayerAt<Net, I> || !L::parameterised || detail::crosses_residual<Net, I>) {
    return std::tuple<>();  // the static_asserts above have said why
  } else if constexpr (I + 1 <= Net::num_layers && detail::NormalizationLayer<typename Net::template Layer<I + 1>>) {
    if constexpr (!Net::template Layer<I + 1>::per_channel && requires { requires L::is_dense; })
      return std::tuple(NormalizedScale<Net, I>(net), Translation<Net, I>(net));
    else
      return std::tuple(NormalizedScale<Net, I>(net));
  } else if constexpr (I + 2 <= Net::num_layers && detail::ActivationLayerType<typename Net::template Layer<I + 1>> &&
                       Net::template Layer<I + 2>::parameterised) {
    using A = typename Net::template Layer<I + 1>::ActivationType;
    if constexpr (GeneralLinearEquivariantActivation<A>) {
      return std::tuple(LinearImbalance<Net, I>(net));
    } else if constexpr (ScalingEquivariantActivation<A>) {
      return std::tuple(RescaleImbalance<Net, I>(net));
    } else {
      static_assert(detail::dependent_false<A>,
                    "symflow::conserved<I>: the activation after layer I has no linear symmetry (it is neither "
                    "linear nor positively homogeneous), so this junction conserves nothing symflow knows");
    }
  } else if constexpr (SequentialModel<Net>) {
    static_assert(detail::dependent_false<L>,
                  "symflow::conserved<I>: layer I is followed by neither a normalisation nor (activation, Dense or "
                  "Conv2d); the last layer has a translation symmetry only under softmax cross-entropy: call "
                  "conserved<I>(net, symflow::SoftmaxCrossEntropy{})");
  } else {
    static_assert(detail::dependent_false<L>,
                  "symflow::conserved<I>: inside a residual block, layer I is followed by neither a normalisation "
                  "nor (activation, Dense or Conv2d); the block's last layer feeds the sum x + f(x), which no group "
                  "of its units leaves unchanged");
  }
}

/// The same, and for the last layer the translation symmetry of softmax cross-entropy.
template <int I, LayerListModel Net, class LossT>
auto conserved(const Net& net, const LossT&) {
  if constexpr (SequentialModel<Net> && I == Net::num_layers) {
    static_assert(std::is_same_v<LossT, SoftmaxCrossEntropy>,
                  "symflow::conserved<I>(net, loss): the last layer has a symmetry only under softmax cross-entropy "
                  "(translation of every class's weights and bias)");
    return std::tuple(Translation<Net, I>(net));
  } else {
    return conserved<I>(net);
  }
}

}  // namespace symflow
