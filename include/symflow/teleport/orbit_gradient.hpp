// SPDX-License-Identifier: MIT
#pragma once
/// \file Derivatives along the orbit, in the coordinates of the action's Lie algebra.
///
/// For a function f on parameter space, moving θ to exp(tM)·θ changes f at rate ⟨∇f, M̄θ⟩. Written
/// in a basis B_1, …, B_n of the algebra, M = Σ x_j B_j, the gradient over the algebra is
///
///   c_j = ⟨w, B̄_j θ⟩,   w = ∇f(θ),
///
/// which `algebra_gradient(action, θ, w)` returns. Two uses:
///  - f = ‖∇L‖²: ∇f = 2 H∇L (one Hessian-vector product), so c_j = 2⟨H∇L, B̄_jθ⟩ (steepest point);
///  - f = λ_max(H) for a linear action (θ ↦ T_g θ with L∘T_g = L): H(T_g θ) = T_g⁻ᵀ H(θ) T_g⁻¹, so
///    along exp(tM) the top eigenvalue λ with unit eigenvector u moves at rate −2λ⟨u, M̄u⟩: c_j =
///    −2λ ⟨u, B̄_j u⟩, the conserved quantities Q_{B_j} evaluated at the eigenvector (flattest point).
///
/// Any action with act, generator, exp and algebra() works (this is all the generic path uses, so
/// the junction actions of layered models plug in unchanged). For the linear hidden-layer actions of
/// an MLP, whose generator is (M W_i, M b_i, −W_{i+1} dπ(M)), a fast path forms the h×h matrices
/// G_in = w_{W_i} W_iᵀ + w_{b_i} b_iᵀ and G_out = W_{i+1}ᵀ w_{W_{i+1}} once, and c_j = ⟨G_in, B_j⟩ −
/// ⟨G_out, dπ(B_j)⟩: O(h² (n_{i−1} + n_{i+1} + dim)) instead of dim generator evaluations.

#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/group/product_action.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

/// What teleporting needs from an action: act, generator, exp and a Lie algebra with a basis and
/// coordinates. Linear actions, their products and the pseudoinverse action all qualify.
template <class A>
concept OrbitAction = requires(const A& a, const typename A::Params& p, const typename A::Group& g,
                               const typename A::Algebra& m, Index j) {
  typename A::Scalar;
  typename A::Params;
  typename A::Group;
  typename A::Algebra;
  { a.act(g, p) } -> std::convertible_to<typename A::Params>;
  { a.generator(m, p) } -> std::convertible_to<typename A::Params>;
  { a.exp(m) } -> std::convertible_to<typename A::Group>;
  { a.compose(g, g) } -> std::convertible_to<typename A::Group>;
  { a.identity() } -> std::convertible_to<typename A::Group>;
  { a.algebra().dimension() } -> std::convertible_to<Index>;
  { a.algebra().basis(j) } -> std::convertible_to<typename A::Algebra>;
  a.algebra().coordinates(m);
};

/// An action that is linear in θ (θ ↦ T_g θ): it has transpose(g), the element whose action is the
/// adjoint. GeneralLinearAction, ScalingAction, OrthogonalAction and their products are linear; the
/// pseudoinverse action is not (π(g, Z) depends on θ).
template <class A>
concept LinearOrbitAction = OrbitAction<A> && requires(const A& a, const typename A::Group& g) {
  { a.transpose(g) } -> std::convertible_to<typename A::Group>;
};

namespace detail {

template <class A> struct is_product_action : std::false_type {};
template <class... F> struct is_product_action<ProductAction<F...>> : std::true_type {};

/// A linear action on one hidden layer of an MLP: the fast path of algebra_gradient applies.
template <class A>
concept MlpHiddenLayerAction = LinearOrbitAction<A> && MlpModel<typename A::ModelType> &&
    requires(const A& a, const typename A::Algebra& m) {
      { A::layer } -> std::convertible_to<int>;
      a.model();
      a.dpi(m);
      a.algebra().matrix(m);
    };

template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Dynamic, 1>;

/// c_j = ⟨w, B̄_jθ⟩ from the generators of the basis: works for every action.
template <class Action, class Params>
Vector<typename Action::Scalar> algebra_gradient_by_generators(const Action& action, const Params& theta,
                                                               const Params& w) {
  const Index n = action.algebra().dimension();
  Vector<typename Action::Scalar> c(n);
  for (Index j = 0; j < n; ++j) c[j] = w.dot(action.generator(action.algebra().basis(j), theta));
  return c;
}

/// G_in = w_{W_i} W_iᵀ + w_{b_i} b_iᵀ and G_out = W_{i+1}ᵀ w_{W_{i+1}} (h×h) of a linear hidden-layer action.
template <class Action, class Params>
std::pair<Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic>, Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic>>
gradient_blocks(const Action& action, const Params& theta, const Params& w) {
  using Square = Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic>;
  constexpr int i = Action::layer;
  const auto& model = action.model();
  Square g_in = model.template weight<i>(w) * model.template weight<i>(theta).transpose();
  if constexpr (Action::ModelType::has_bias) g_in.noalias() += model.template bias<i>(w) * model.template bias<i>(theta).transpose();
  Square g_out = model.template weight<i + 1>(theta).transpose() * model.template weight<i + 1>(w);
  return {std::move(g_in), std::move(g_out)};
}

/// c_j = ⟨G_in, B_j⟩ − ⟨G_out, dπ(B_j)⟩.
template <class Action, class Blocks>
Vector<typename Action::Scalar> coordinates_from_blocks(const Action& action, const Blocks& blocks) {
  const auto& algebra = action.algebra();
  const Index n = algebra.dimension();
  Vector<typename Action::Scalar> c(n);
  for (Index j = 0; j < n; ++j) {
    const auto b = algebra.basis(j);
    c[j] = blocks.first.cwiseProduct(algebra.matrix(b)).sum() - blocks.second.cwiseProduct(algebra.matrix(action.dpi(b))).sum();
  }
  return c;
}

/// The same for a linear hidden-layer action, through G_in and G_out (see the file comment).
template <class Action, class Params>
Vector<typename Action::Scalar> algebra_gradient_by_blocks(const Action& action, const Params& theta, const Params& w) {
  return coordinates_from_blocks(action, gradient_blocks(action, theta, w));
}

}  // namespace detail

/// The gradient over the algebra of θ ↦ ⟨w, ·⟩ moved along the orbit: c_j = ⟨w, B̄_jθ⟩ for the basis
/// B_j of action.algebra(). For a product action the factors' coordinates are concatenated, as
/// ProductAlgebra numbers its basis.
template <OrbitAction Action>
detail::Vector<typename Action::Scalar> algebra_gradient(const Action& action, const typename Action::Params& theta,
                                                         const typename Action::Params& w) {
  if constexpr (detail::is_product_action<Action>::value) {
    detail::Vector<typename Action::Scalar> c(action.algebra().dimension());
    Index offset = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((c.segment(offset, action.template factor<I>().algebra().dimension()) =
            algebra_gradient(action.template factor<I>(), theta, w),
        offset += action.template factor<I>().algebra().dimension()),
       ...);
    }(std::make_index_sequence<Action::factors>{});
    return c;
  } else if constexpr (detail::MlpHiddenLayerAction<Action>) {
    return detail::algebra_gradient_by_blocks(action, theta, w);
  } else {
    return detail::algebra_gradient_by_generators(action, theta, w);
  }
}

/// Σ_i of algebra_gradient(action, θ_i, w_i): for the linear hidden-layer actions the h×h block
/// matrices are summed first and the basis visited once (Hutchinson's trace gradient uses this).
template <OrbitAction Action>
detail::Vector<typename Action::Scalar> algebra_gradient_sum(const Action& action,
                                                             const std::vector<typename Action::Params>& thetas,
                                                             const std::vector<typename Action::Params>& ws) {
  detail::require_length("vectors w (one per θ)", static_cast<Index>(thetas.size()), static_cast<Index>(ws.size()));
  if constexpr (detail::is_product_action<Action>::value) {
    detail::Vector<typename Action::Scalar> c(action.algebra().dimension());
    Index offset = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((c.segment(offset, action.template factor<I>().algebra().dimension()) =
            algebra_gradient_sum(action.template factor<I>(), thetas, ws),
        offset += action.template factor<I>().algebra().dimension()),
       ...);
    }(std::make_index_sequence<Action::factors>{});
    return c;
  } else if constexpr (detail::MlpHiddenLayerAction<Action>) {
    auto blocks = detail::gradient_blocks(action, thetas.front(), ws.front());
    for (std::size_t k = 1; k < thetas.size(); ++k) {
      const auto more = detail::gradient_blocks(action, thetas[k], ws[k]);
      blocks.first += more.first;
      blocks.second += more.second;
    }
    return detail::coordinates_from_blocks(action, blocks);
  } else {
    detail::Vector<typename Action::Scalar> c = algebra_gradient(action, thetas.front(), ws.front());
    for (std::size_t k = 1; k < thetas.size(); ++k) c += algebra_gradient(action, thetas[k], ws[k]);
    return c;
  }
}

/// The algebra element with coordinates c (any coordinate vector type).
template <OrbitAction Action>
typename Action::Algebra algebra_element(const Action& action, const detail::Vector<typename Action::Scalar>& c) {
  using Coordinates = std::remove_cvref_t<decltype(action.algebra().coordinates(std::declval<const typename Action::Algebra&>()))>;
  return action.algebra().from_coordinates(Coordinates(c));
}

}  // namespace symflow
