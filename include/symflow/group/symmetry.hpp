// SPDX-License-Identifier: MIT
#pragma once
/// \file The linear symmetry of a model, deduced from its type: the activation of each junction
/// declares its equivariance (symflow/group/equivariance.hpp), whose tag names the group policy and
/// its action (one LinearHiddenLayerAction per group).
///
/// \code
/// symflow::Mlp<double, symflow::ReLU, 10, 50, 50, 5> net;
/// auto s1 = symflow::symmetry<1>(net);          // ScalingAction on hidden layer 1
/// auto all = symflow::product_symmetry(net);    // (R>0)^50 × (R>0)^50 on both hidden layers (eq. 17)
/// \endcode
///
/// Asking for the linear symmetry of a layer whose activation has none (tanh, sigmoid, an undeclared
/// user activation) is a compile-time error that names the nonlinear action instead; asking for a
/// layer the model does not have is an error that names the index.

#include <type_traits>
#include <utility>

#include "symflow/group/equivariance.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/group/orthogonal.hpp"
#include "symflow/group/product_action.hpp"
#include "symflow/group/scaling.hpp"

namespace symflow {

namespace detail {

template <class Tag, class Model, int Layer>
struct action_of {
  using type = typename Tag::template action<Model, Layer>;
};

template <class Model, int Layer>
inline constexpr bool is_hidden_layer = is_junction<Model, Layer>;

template <class Model, int Layer>
struct junction_has_linear_symmetry : std::false_type {};
template <class Model, int Layer>
  requires is_hidden_layer<Model, Layer>
struct junction_has_linear_symmetry<Model, Layer>
    : std::bool_constant<LinearlyEquivariantActivation<typename junction<Model, Layer>::Activation>> {};

// The index is checked before the activation, so that a wrong index is blamed on the index.
template <class Model, int Layer, bool InRange = is_hidden_layer<Model, Layer>>
struct deduce_symmetry {
  static_assert(InRange,
                "symflow::symmetry: this index names no junction of the model: hidden layers of an Mlp are numbered "
                "1, …, L − 1 (hidden layer i sits between W_i and W_{i+1}); a junction of a Sequential is named by "
                "its incoming Dense layer I, which an activation and a Dense layer follow (convolutions and "
                "normalisation layers have the channel and scale symmetries of symflow/junction.hpp, conserved<I>); "
                "a Residual block at layer R is no junction: the junctions inside it are those of "
                "symflow::residual_block<R>(net), and no group of the residual stream survives the skip connection");
  using type = void;
};
template <class Model, int Layer>
struct deduce_symmetry<Model, Layer, true> {
  using Activation = typename junction<Model, Layer>::Activation;
  static_assert(LinearlyEquivariantActivation<Activation>,
                "symflow::symmetry: this hidden layer's activation has no linear symmetry: it declares no "
                "equivariance σ(gz) = π(g)σ(z) under a linear group (tanh and sigmoid have none). Use the "
                "data-dependent nonlinear action symflow::PseudoinverseAction (symflow/group/pinv_action.hpp), or, "
                "if the activation is equivariant, declare it with symflow::equivariance "
                "(symflow/group/equivariance.hpp)");
  using type = typename std::conditional_t<LinearlyEquivariantActivation<Activation>,
                                           action_of<equivariance<Activation>, Model, Layer>,
                                           std::type_identity<void>>::type;
};

template <class Model, class Layers>
struct deduce_product_symmetry;
template <class Model, int... I>
struct deduce_product_symmetry<Model, std::integer_sequence<int, I...>> {
  using type = ProductAction<typename deduce_symmetry<Model, I>::type...>;
};

template <class Model>
inline constexpr bool every_junction_has_linear_symmetry = []<int... I>(std::integer_sequence<int, I...>) {
  return (junction_has_linear_symmetry<Model, I>::value && ...);
}(junction_indices<Model>{});

}  // namespace detail

/// The largest linear symmetry of hidden layer `Layer` of `Model`: the action its activation's
/// declared group names (GeneralLinearAction for a linear activation, ScalingAction for a positively
/// homogeneous one, OrthogonalAction for a radial one, a user group's own).
template <class Model, int Layer = 1>
using Symmetry = typename detail::deduce_symmetry<Model, Layer>::type;

/// The product of the symmetries of all hidden layers 1, …, L − 1 (eq. 17), of all junctions.
template <class Model>
using ProductSymmetry = typename detail::deduce_product_symmetry<Model, junction_indices<Model>>::type;

/// The linear symmetry of hidden layer `Layer` of `model`.
template <int Layer = 1, class Model>
auto symmetry(const Model& model) {
  if constexpr (detail::is_hidden_layer<Model, Layer> &&
                detail::junction_has_linear_symmetry<Model, Layer>::value) {
    return Symmetry<Model, Layer>(model);
  } else {
    static_cast<void>(sizeof(detail::deduce_symmetry<Model, Layer>));  // fails with the sentence above
  }
}

/// The linear symmetry of all hidden layers of `model` at once.
template <class Model>
auto product_symmetry(const Model& model) {
  static_assert(detail::every_junction_has_linear_symmetry<Model>,
                "symflow::product_symmetry: some hidden layer's activation has no linear symmetry (it declares no "
                "equivariance σ(gz) = π(g)σ(z), as tanh and sigmoid); take symflow::symmetry<i> of the layers that "
                "have one, or the nonlinear symflow::PseudoinverseAction");
  if constexpr (detail::every_junction_has_linear_symmetry<Model>) {
    return [&]<int... I>(std::integer_sequence<int, I...>) {
      return ProductSymmetry<Model>(Symmetry<Model, I>(model)...);
    }(junction_indices<Model>{});
  }
}

}  // namespace symflow
