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
/// Anything else (tanh, sigmoid, a layer inside a Residual block, …) has no junction symmetry that
/// symflow knows, and conserved<I> says so at compile time.

#include <tuple>
#include <type_traits>

#include "symflow/junction/dynamics.hpp"
#include "symflow/junction/quantities.hpp"

namespace symflow {

namespace detail {
template <class> inline constexpr bool dependent_false = false;
template <class L> concept NormalizationLayer = requires { requires L::is_normalization; };
template <class L> concept ActivationLayerType = requires { typename L::ActivationType; };
}  // namespace detail

/// The conserved quantities of the junction starting at layer I (model symmetries only).
template <int I, SequentialModel Net>
auto conserved(const Net& net) {
  static_assert(I >= 1 && I <= Net::num_layers, "symflow::conserved<I>: layers are numbered 1, …, num_layers");
  using L = typename Net::template Layer<I>;
  static_assert(L::parameterised,
                "symflow::conserved<I>: junctions are named by their first layer with weights (Dense or Conv2d); "
                "layer I has none");
  if constexpr (I + 1 <= Net::num_layers && detail::NormalizationLayer<typename Net::template Layer<I + 1>>) {
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
  } else {
    static_assert(detail::dependent_false<L>,
                  "symflow::conserved<I>: layer I is followed by neither a normalisation nor (activation, Dense or "
                  "Conv2d); the last layer has a translation symmetry only under softmax cross-entropy: call "
                  "conserved<I>(net, symflow::SoftmaxCrossEntropy{})");
  }
}

/// The same, and for the last layer the translation symmetry of softmax cross-entropy.
template <int I, SequentialModel Net, class LossT>
auto conserved(const Net& net, const LossT&) {
  if constexpr (I == Net::num_layers) {
    static_assert(std::is_same_v<LossT, SoftmaxCrossEntropy>,
                  "symflow::conserved<I>(net, loss): the last layer has a symmetry only under softmax cross-entropy "
                  "(translation of every class's weights and bias)");
    return std::tuple(Translation<Net, I>(net));
  } else {
    return conserved<I>(net);
  }
}

}  // namespace symflow
