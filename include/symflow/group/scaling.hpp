// SPDX-License-Identifier: MIT
#pragma once
/// \file The positive scaling group (R_{>0})^h acting on hidden layer i of a network whose activation
/// is positively homogeneous of degree α, σ(cz) = c^α σ(z) for c > 0 (Examples 3–4; π(g) = g^α):
///
///   c · (W_i, b_i, W_{i+1}) = (diag(c) W_i, c ⊙ b_i, W_{i+1} diag(c)^{−α}),
///   M̄θ = (diag(m) W_i, m ⊙ b_i, −α W_{i+1} diag(m)).
///
/// Group and algebra elements are stored as their diagonals, so act and generator cost O(h(n_{i−1} +
/// n_{i+1})). Linear hidden layers admit it too, with α = 1. Its conserved quantity is the per-unit
/// imbalance (symflow/conserved/scaling_imbalance.hpp), Q_M = ⟨m, Q⟩.

#include <cmath>
#include <string>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"
#include "symflow/group/linear_action.hpp"

namespace symflow {

template <class Model, int Layer> class ScalingImbalance;

/// (R_{>0})^h on one hidden layer: π(c) = c^α, dπ(m) = α m, elements stored as diagonals.
template <class Scalar, int H>
class ScalingGroup {
 public:
  using AlgebraType = DiagonalAlgebra<Scalar, H>;
  /// c ∈ (R_{>0})^h, the diagonal of g.
  using Group = typename AlgebraType::GroupElement;
  /// m ∈ R^h, the diagonal of M.
  using Algebra = typename AlgebraType::Element;
  /// The conserved quantity: Q_k = ‖row k of W_i‖² + b_{i,k}² − α‖column k of W_{i+1}‖², Q_M = ⟨m, Q⟩.
  template <class Model, int Layer> using Quantity = ScalingImbalance<Model, Layer>;

  template <class Activation>
  ScalingGroup(const Activation& activation, Index h) : algebra_(h), alpha_(degree_of(activation)) {}

  const AlgebraType& algebra() const { return algebra_; }
  /// α, the activation's degree of homogeneity.
  Scalar degree() const { return alpha_; }
  /// a ⊙ b (diagonal matrices commute).
  Group compose(const Group& a, const Group& b) const { return a.cwiseProduct(b); }
  Group inverse(const Group& g) const { return g.cwiseInverse(); }
  /// Diagonal matrices are symmetric: gᵀ = g.
  Group transpose(const Group& g) const { return g; }
  /// π(c) = c^α.
  Group pi(const Group& g) const {
    if (alpha_ == Scalar(1)) return g;
    return power(g, alpha_);
  }
  /// dπ(m) = α m.
  Algebra dpi(const Algebra& m) const { return alpha_ * m; }

  /// c^{−α}, after checking that every factor is positive and finite.
  Group check_group(const Group& g) const {
    detail::require_length("scaling factors c", algebra_.size(), g.size());
    for (Index k = 0; k < g.size(); ++k) {
      using std::isfinite;
      if (!(g[k] > Scalar(0)) || !isfinite(g[k]))
        throw std::invalid_argument("symflow::ScalingAction: scaling factor c_" + std::to_string(k) + " = " +
                                    std::to_string(static_cast<double>(g[k])) +
                                    "; the positive scaling group needs every factor positive and finite");
    }
    return alpha_ == Scalar(1) ? g.cwiseInverse().eval() : power(g, -alpha_);
  }
  void check_algebra(const Algebra& m) const { detail::require_length("Lie algebra element m", algebra_.size(), m.size()); }

  /// X ← diag(c) X.
  template <class X> void act_rows(const Group& g, X& x) const { x = g.asDiagonal() * x; }
  /// U ← U diag(c^{−α}), given c^{−α}.
  template <class U> void act_columns(const Group& undo, U& u) const { u = u * undo.asDiagonal(); }
  template <class X, class Out> void add_rows(const Algebra& m, const X& x, Out&& out) const {
    out.noalias() += m.asDiagonal() * x;
  }
  template <class U, class Out> void add_columns(const Algebra& m, const U& u, Out&& out) const {
    out.noalias() -= u * (alpha_ * m).asDiagonal();
  }

  /// ⟨m, Q⟩: Q_M from the quantity's value.
  template <class Q> static auto pair(const Algebra& m, const Q& q) { return m.dot(q); }

  /// The orbit dimension at a generic point of a two-layer block (eq. 21 corrected): M = diag(c) is
  /// in the kernel only where column k of U and row k of V both vanish, never at a generic point.
  static constexpr Index generic_orbit_dimension(Index, Index h, Index) { return h; }

 private:
  template <class Activation>
  static Scalar degree_of(const Activation& activation) {
    static_assert(ScalingEquivariantActivation<Activation>,
                  "symflow::ScalingAction: positive scaling is a symmetry only of a positively homogeneous hidden "
                  "activation (σ(cz) = c^α σ(z), e.g. ReLU, LeakyReLU, Homogeneous, Identity). Declare the "
                  "activation ScalingEquivariant with degree() (symflow/group/equivariance.hpp) if it is, or use "
                  "the nonlinear symflow::PseudoinverseAction (symflow/group/pinv_action.hpp)");
    if constexpr (ScalingEquivariantActivation<Activation>) return static_cast<Scalar>(homogeneity_degree(activation));
    else return Scalar(1);
  }
  /// c^p entry by entry, with std::pow (Eigen's vectorised pow trips a false uninitialised-value
  /// warning in GCC 12's AVX-512 intrinsics).
  static Group power(const Group& c, Scalar p) {
    return c.unaryExpr([p](const Scalar& x) {
      using std::pow;
      return pow(x, p);
    });
  }

  AlgebraType algebra_;
  Scalar alpha_;
};

/// (R_{>0})^h on hidden layer `Layer` of `Model`. Domain: any θ; every scale factor c_k must be
/// positive and finite (act throws std::invalid_argument otherwise).
template <class Model, int Layer>
class ScalingAction : public LinearHiddenLayerAction<Model, Layer, ScalingEquivariant> {
 public:
  using LinearHiddenLayerAction<Model, Layer, ScalingEquivariant>::LinearHiddenLayerAction;
  /// α, the activation's degree of homogeneity.
  auto degree() const { return this->representation().degree(); }
};

template <class Model>
ScalingAction(Model) -> ScalingAction<Model, 1>;

}  // namespace symflow
