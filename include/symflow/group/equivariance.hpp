// SPDX-License-Identifier: MIT
#pragma once
/// \file Which linear group an activation is equivariant under, σ(gz) = π(g)σ(z), and the catalogue
/// of symflow's group policies.
///
/// The answer decides the symmetry of every hidden layer that uses the activation (Prop. 7):
///
/// | activation                           | declared tag             | group G ⊆ GL_h           | π(g)  | dπ(M) |
/// | ------------------------------------ | ------------------------ | ------------------------ | ----- | ----- |
/// | Identity                             | GeneralLinearEquivariant | GL_h                     | g     | M     |
/// | ReLU, LeakyReLU, Homogeneous (deg α) | ScalingEquivariant       | positive scaling (R>0)^h | g^α   | αM    |
/// | Radial (σ(z) = f(‖z‖) z)             | OrthogonalEquivariant    | O(h)                     | g     | M     |
/// | Tanh, Sigmoid, anything undeclared   | none: use the nonlinear PseudoinverseAction                 |
///
/// A tag is a group policy: it names the representation of the group on a hidden layer (`group`:
/// its Lie algebra, π, dπ and how g acts on the incoming rows and outgoing columns, with the
/// conserved quantity it gives, in the group's own header) and the action type (`action`, one
/// LinearHiddenLayerAction for every group), and lists the `subgroups` an activation equivariant
/// under it is equivariant under too. A user group is one more tag of this shape (docs/symmetries.md).
///
/// An activation declares its equivariance in one of two ways:
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

#include <concepts>
#include <tuple>
#include <type_traits>

#include "symflow/core/config.hpp"
#include "symflow/model/activations.hpp"

namespace symflow {

// The group policies' representations and actions (each in its own header: general_linear.hpp,
// scaling.hpp, orthogonal.hpp).
template <class Scalar, int H> class GeneralLinearGroup;
template <class Scalar, int H> class ScalingGroup;
template <class Scalar, int H> class OrthogonalGroup;
template <class Model, int Layer = 1> class GeneralLinearAction;
template <class Model, int Layer = 1> class ScalingAction;
template <class Model, int Layer = 1> class OrthogonalAction;

/// Tag: σ(gz) = gσ(z) for every g ∈ GL_h (only linear activations); such σ also admit the
/// scaling group (α = 1) and O(h).
struct GeneralLinearEquivariant {
  template <class Scalar, int H> using group = GeneralLinearGroup<Scalar, H>;
  template <class Model, int Layer> using action = GeneralLinearAction<Model, Layer>;
  using subgroups = std::tuple<ScalingEquivariant, OrthogonalEquivariant>;
};
/// Tag: σ(gz) = g^α σ(z) for g = diag(c), c_k > 0; the activation provides degree() = α.
struct ScalingEquivariant {
  template <class Scalar, int H> using group = ScalingGroup<Scalar, H>;
  template <class Model, int Layer> using action = ScalingAction<Model, Layer>;
  using subgroups = std::tuple<>;
};
/// Tag: σ(gz) = gσ(z) for every g ∈ O(h).
struct OrthogonalEquivariant {
  template <class Scalar, int H> using group = OrthogonalGroup<Scalar, H>;
  template <class Model, int Layer> using action = OrthogonalAction<Model, Layer>;
  using subgroups = std::tuple<>;
};
/// Tag: no linear equivariance.
struct NotLinearlyEquivariant {
  using subgroups = std::tuple<>;
};

namespace detail {
template <class A, class = void>
struct member_equivariance : NotLinearlyEquivariant {};
template <class A>
struct member_equivariance<A, std::void_t<typename A::equivariance>> : A::equivariance {};

template <class Tag, class = void>
struct names_group : std::false_type {};
template <class Tag>
struct names_group<Tag, std::void_t<typename Tag::template group<double, Dynamic>>> : std::true_type {};

template <class Tag, class List>
inline constexpr bool lists_group = false;
template <class Tag, class... Tags>
inline constexpr bool lists_group<Tag, std::tuple<Tags...>> = (std::is_same_v<Tag, Tags> || ...);
}  // namespace detail

/// The equivariance of activation A: it derives from A's tag, the member type `A::equivariance` if it
/// has one, otherwise NotLinearlyEquivariant. Specialise it to declare the equivariance of an
/// activation you cannot edit.
template <class A>
struct equivariance : detail::member_equivariance<A> {};

/// A is declared equivariant under the group of `Tag`, directly or as a subgroup of its declared group.
template <class A, class Tag>
concept EquivariantUnder = std::is_base_of_v<Tag, equivariance<std::remove_cvref_t<A>>> ||
                           detail::lists_group<Tag, typename equivariance<std::remove_cvref_t<A>>::subgroups>;

/// A admits the general linear group GL_h (π(g) = g).
template <class A>
concept GeneralLinearEquivariantActivation = EquivariantUnder<A, GeneralLinearEquivariant>;

/// A admits the positive scaling group, with π(g) = g^α. Linear activations admit it with α = 1.
template <class A>
concept ScalingEquivariantActivation =
    GeneralLinearEquivariantActivation<A> ||
    (EquivariantUnder<A, ScalingEquivariant> && requires(const A& a) {
      { a.degree() } -> std::convertible_to<double>;
    });

/// A admits O(h) (π(g) = g). Linear activations admit it too.
template <class A>
concept OrthogonalEquivariantActivation = EquivariantUnder<A, OrthogonalEquivariant>;

/// A admits some linear group acting on its hidden layer (its declared tag names a group).
template <class A>
concept LinearlyEquivariantActivation = detail::names_group<equivariance<std::remove_cvref_t<A>>>::value;

/// The homogeneity degree α used by the scaling action: a.degree(), or 1 for linear activations.
template <class A>
double homogeneity_degree(const A& a) {
  if constexpr (requires { a.degree(); }) {
    return static_cast<double>(a.degree());
  } else {
    static_assert(GeneralLinearEquivariantActivation<A>,
                  "symflow: an activation declared ScalingEquivariant must provide degree() (its homogeneity α, "
                  "σ(cz) = c^α σ(z) for c > 0)");
    return 1.0;
  }
}

}  // namespace symflow
