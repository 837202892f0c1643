// SPDX-License-Identifier: MIT
#pragma once
/// \file The linear symmetry of a model, deduced from its type: the hidden activation's declared
/// equivariance (symflow/group/equivariance.hpp) picks the group of each hidden layer.
///
/// \code
/// symflow::Mlp<double, symflow::ReLU, 10, 50, 50, 5> net;
/// auto s1 = symflow::symmetry<1>(net);          // ScalingAction on hidden layer 1
/// auto all = symflow::product_symmetry(net);    // (R>0)^50 × (R>0)^50 on both hidden layers (eq. 17)
/// \endcode
///
/// Asking for the linear symmetry of a layer whose activation has none (tanh, sigmoid, an undeclared
/// user activation) is a compile-time error that names the nonlinear action instead.

#include <utility>

#include "symflow/group/equivariance.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/orthogonal.hpp"
#include "symflow/group/product_action.hpp"
#include "symflow/group/scaling.hpp"

namespace symflow {

namespace detail {

template <class Model, int Layer, LinearGroup G = linear_group_of<typename Model::Activation>>
struct deduce_symmetry {
  static_assert(G != LinearGroup::none,
                "symflow::symmetry: this hidden layer's activation has no linear symmetry: it declares no "
                "equivariance σ(gz) = π(g)σ(z) under a linear group (tanh and sigmoid have none). Use the "
                "data-dependent nonlinear action symflow::PseudoinverseAction (symflow/group/pinv_action.hpp), or, "
                "if the activation is equivariant, declare it with symflow::equivariance "
                "(symflow/group/equivariance.hpp)");
  using type = void;
};
template <class Model, int Layer>
struct deduce_symmetry<Model, Layer, LinearGroup::general_linear> {
  using type = GeneralLinearAction<Model, Layer>;
};
template <class Model, int Layer>
struct deduce_symmetry<Model, Layer, LinearGroup::positive_scaling> {
  using type = ScalingAction<Model, Layer>;
};
template <class Model, int Layer>
struct deduce_symmetry<Model, Layer, LinearGroup::orthogonal> {
  using type = OrthogonalAction<Model, Layer>;
};

template <class Model, class Layers>
struct deduce_product_symmetry;
template <class Model, int... I>
struct deduce_product_symmetry<Model, std::integer_sequence<int, I...>> {
  using type = ProductAction<typename deduce_symmetry<Model, I + 1>::type...>;
};

}  // namespace detail

/// The largest linear symmetry of hidden layer `Layer` of `Model`: GeneralLinearAction (linear
/// activation), ScalingAction (positively homogeneous) or OrthogonalAction (radial).
template <class Model, int Layer = 1>
using Symmetry = typename detail::deduce_symmetry<Model, Layer>::type;

/// The product of the symmetries of all hidden layers 1, …, L − 1 (eq. 17).
template <class Model>
using ProductSymmetry =
    typename detail::deduce_product_symmetry<Model, std::make_integer_sequence<int, Model::depth - 1>>::type;

/// The linear symmetry of hidden layer `Layer` of `model`.
template <int Layer = 1, class Model>
Symmetry<Model, Layer> symmetry(const Model& model) {
  return Symmetry<Model, Layer>(model);
}

/// The linear symmetry of all hidden layers of `model` at once.
template <class Model>
ProductSymmetry<Model> product_symmetry(const Model& model) {
  return [&]<int... I>(std::integer_sequence<int, I...>) {
    return ProductSymmetry<Model>(Symmetry<Model, I + 1>(model)...);
  }(std::make_integer_sequence<int, Model::depth - 1>{});
}

}  // namespace symflow
