// SPDX-License-Identifier: MIT
#pragma once
/// \file Which linear group an activation is equivariant under: σ(gz) = π(g)σ(z).
///
/// The answer decides the symmetry of every hidden layer that uses the activation (Prop. 7):
///
/// | activation                           | group G ⊆ GL_h            | π(g)  | dπ(M) |
/// | ------------------------------------ | ------------------------- | ----- | ----- |
/// | Identity                             | GL_h                      | g     | M     |
/// | ReLU, LeakyReLU, Homogeneous (deg α) | positive scaling (R>0)^h  | g^α   | αM    |
/// | Radial (σ(z) = f(‖z‖) z)             | O(h)                      | g     | M     |
/// | Tanh, Sigmoid, anything undeclared   | none: use the nonlinear PseudoinverseAction  |
///
/// A user activation declares its equivariance in one of two ways:
///
/// \code
/// struct MyReLU6Free {                      // intrusive: a member type
///   using equivariance = symflow::ScalingEquivariant;
///   double degree() const { return 1.0; }   // α, required for scaling equivariance
///   template <class S> S value(const S& z) const;  template <class S> S derivative(const S& z) const;
/// };
/// template <> struct symflow::equivariance<TheirActivation> : symflow::OrthogonalEquivariant {};  // non-intrusive
/// \endcode
///
/// A declaration is a promise symflow cannot prove; symflow::testing's invariance checks verify it
/// numerically on the user's model.

#include <type_traits>

#include "symflow/model/activations.hpp"

namespace symflow {

/// The linear groups a hidden layer's activation can be equivariant under.
enum class LinearGroup {
  none,              ///< no linear symmetry (tanh, sigmoid, …): only the nonlinear action applies
  general_linear,    ///< σ(gz) = gσ(z) for all invertible g
  positive_scaling,  ///< σ(gz) = g^α σ(z) for diagonal g with positive entries, α = degree()
  orthogonal,        ///< σ(gz) = gσ(z) for orthogonal g
};

/// Tag: σ(gz) = gσ(z) for every g ∈ GL_h (only linear activations).
struct GeneralLinearEquivariant {
  static constexpr LinearGroup group = LinearGroup::general_linear;
};
/// Tag: σ(gz) = g^α σ(z) for g = diag(c), c_k > 0; the activation provides degree() = α.
struct ScalingEquivariant {
  static constexpr LinearGroup group = LinearGroup::positive_scaling;
};
/// Tag: σ(gz) = gσ(z) for every g ∈ O(h).
struct OrthogonalEquivariant {
  static constexpr LinearGroup group = LinearGroup::orthogonal;
};
/// Tag: no linear equivariance.
struct NotLinearlyEquivariant {
  static constexpr LinearGroup group = LinearGroup::none;
};

namespace detail {
template <class A, class = void>
struct member_equivariance : NotLinearlyEquivariant {};
template <class A>
struct member_equivariance<A, std::void_t<typename A::equivariance>> : A::equivariance {};
}  // namespace detail

/// The equivariance of activation A: its member type `A::equivariance` if it has one, otherwise
/// none. Specialise it to declare the equivariance of an activation you cannot edit.
template <class A>
struct equivariance : detail::member_equivariance<A> {};

template <> struct equivariance<Identity> : GeneralLinearEquivariant {};
template <> struct equivariance<ReLU> : ScalingEquivariant {};
template <> struct equivariance<LeakyReLU> : ScalingEquivariant {};
template <> struct equivariance<Homogeneous> : ScalingEquivariant {};
template <class F> struct equivariance<Radial<F>> : OrthogonalEquivariant {};

/// The largest linear group activation A is declared equivariant under.
template <class A>
inline constexpr LinearGroup linear_group_of = equivariance<std::remove_cvref_t<A>>::group;

/// A admits the general linear group GL_h (π(g) = g).
template <class A>
concept GeneralLinearEquivariantActivation = linear_group_of<A> == LinearGroup::general_linear;

/// A admits the positive scaling group, with π(g) = g^α. Linear activations admit it with α = 1.
template <class A>
concept ScalingEquivariantActivation =
    linear_group_of<A> == LinearGroup::general_linear ||
    (linear_group_of<A> == LinearGroup::positive_scaling && requires(const A& a) {
      { a.degree() } -> std::convertible_to<double>;
    });

/// A admits O(h) (π(g) = g). Linear activations admit it too.
template <class A>
concept OrthogonalEquivariantActivation =
    linear_group_of<A> == LinearGroup::general_linear || linear_group_of<A> == LinearGroup::orthogonal;

/// A admits some linear group acting on its hidden layer.
template <class A>
concept LinearlyEquivariantActivation = linear_group_of<A> != LinearGroup::none;

/// The homogeneity degree α used by the scaling action: a.degree(), or 1 for linear activations.
template <class A>
double homogeneity_degree(const A& a) {
  if constexpr (requires { a.degree(); }) {
    return static_cast<double>(a.degree());
  } else {
    static_assert(linear_group_of<A> == LinearGroup::general_linear,
                  "symflow: an activation declared ScalingEquivariant must provide degree() (its homogeneity α, "
                  "σ(cz) = c^α σ(z) for c > 0)");
    return 1.0;
  }
}

}  // namespace symflow
