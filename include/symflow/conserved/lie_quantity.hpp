// SPDX-License-Identifier: MIT
#pragma once
/// \file The conserved quantity Q_M(θ) = ⟨θ, M̄θ⟩ of a linear symmetry and an element M of its Lie
/// algebra (Prop. 12), for any action that provides generator(M, θ).
///
/// Why it is conserved: for a linear action, M̄ is a d×d matrix and ∇Q_M = (M̄ + M̄ᵀ)θ. The actions of
/// symflow satisfy M̄ᵀ = (Mᵀ)‾ (the generator of the transpose is the adjoint), and G is closed under
/// transposes, so Mᵀ ∈ 𝔤 and ⟨∇Q_M, ∇L⟩ = ⟨M̄θ, ∇L⟩ + ⟨(Mᵀ)‾θ, ∇L⟩ = 0 by Prop. 5 applied twice.
///
/// Why antisymmetric M gives nothing: then M̄ᵀ = (Mᵀ)‾ = −M̄ is antisymmetric on R^d and
/// ⟨θ, M̄θ⟩ = ⟨M̄ᵀθ, θ⟩ = −⟨θ, M̄θ⟩ = 0 for every θ. In general Q_M = Q_{M_sym} with
/// M_sym = ½(M + Mᵀ), so distinct quantities correspond to symmetric elements of 𝔤. For O(h)
/// (radial activations) every M is antisymmetric and every Q_M vanishes identically; what remains
/// is the orthogonality ⟨M̄θ, θ̇⟩ = 0, the angular-momentum identity (angular_momentum.hpp).
///
/// Relation to the full forms: for GL_h on a linear layer, Q_M = ⟨M, LayerImbalance⟩_F; for the
/// positive scaling group with M = diag(m), Q_M = ⟨m, ScalingImbalance⟩.

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/conserved/scaling_imbalance.hpp"
#include "symflow/core/config.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/scaling.hpp"

namespace symflow {

namespace detail {

/// Q_M through the full form of the action's conserved quantity when its group policy names one:
/// ⟨M, Q_i⟩_F for GL_h (symmetric rank-k products, half the work of forming M̄θ), ⟨m, Q⟩ for positive
/// scaling (row and column norms only); other actions go through the generator.
template <class Action>
concept HasQuantityShortcut = requires {
  typename Action::Representation::template Quantity<typename Action::ModelType, Action::layer>;
};

}  // namespace detail

/// A linear action: nested Scalar, Params and Algebra, and generator(M, θ) = M̄θ, linear in θ.
template <class A>
concept LinearAction = requires(const A& a, const typename A::Algebra& m, const typename A::Params& p) {
  typename A::Scalar;
  typename A::Params;
  typename A::Algebra;
  { a.generator(m, p) } -> std::convertible_to<typename A::Params>;
};

/// Q_M(θ) = ⟨θ, M̄θ⟩ (Prop. 12): conserved by gradient flow when the action is a symmetry of the
/// loss; identically zero when M is antisymmetric.
template <LinearAction Action>
class LieQuantity {
 public:
  using ActionType = Action;
  using Scalar = typename Action::Scalar;
  using Params = typename Action::Params;
  using Algebra = typename Action::Algebra;
  using Value = Scalar;
  static constexpr bool is_quadratic = true;

  LieQuantity(Action action, Algebra m) : action_(std::move(action)), m_(std::move(m)) {}
  const Action& action() const { return action_; }
  const Algebra& element() const { return m_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& theta) const {
    if constexpr (detail::HasQuantityShortcut<Action>) {
      using Q = typename Action::Representation::template Quantity<typename Action::ModelType, Action::layer>;
      return Action::Representation::pair(m_, Q(action_.model()).value(theta));
    } else {
      const auto p = detail::convert_checked<Params>("θ", theta);
      return p.dot(action_.generator(m_, p));
    }
  }

  /// ⟨θ, M̄θ⟩ through the action's generator, whatever the action (value() may take a shortcut).
  template <class D>
  Value through_generator(const Eigen::MatrixBase<D>& theta) const {
    const auto p = detail::convert_checked<Params>("θ", theta);
    return p.dot(action_.generator(m_, p));
  }

  /// d/dt Q_M(θ + tv) at t = 0 = ⟨v, M̄θ⟩ + ⟨θ, M̄v⟩, exact (M̄ is linear).
  Value derivative(const Params& p, const Params& v) const {
    return v.dot(action_.generator(m_, p)) + p.dot(action_.generator(m_, v));
  }
  static std::string name() { return "lie_quantity"; }

 private:
  Action action_;
  Algebra m_;
};

template <class Action>
LieQuantity(Action, typename Action::Algebra) -> LieQuantity<Action>;

/// Q_M for the action and M.
template <LinearAction Action>
LieQuantity<Action> lie_quantity(Action action, typename Action::Algebra m) {
  return LieQuantity<Action>(std::move(action), std::move(m));
}

}  // namespace symflow
