// SPDX-License-Identifier: MIT
#pragma once
/// \file The orthogonal group O(h) acting on hidden layer i of a network with a radial activation
/// σ(z) = f(‖z‖) z (Example 5; Prop. 7 with π(g) = g):
///
///   g · (W_i, b_i, W_{i+1}) = (g W_i, g b_i, W_{i+1} gᵀ),   M̄θ = (M W_i, M b_i, −W_{i+1} M),  Mᵀ = −M.
///
/// Linear hidden layers admit it too (O(h) ⊂ GL_h). Every Q_M = ⟨θ, M̄θ⟩ vanishes (M antisymmetric):
/// what it conserves is the angular-momentum identity (symflow/conserved/angular_momentum.hpp).

#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"
#include "symflow/group/linear_action.hpp"

namespace symflow {

/// O(h) on one hidden layer: π(g) = g, dπ(M) = M; g orthogonal, M skew-symmetric.
template <class Scalar, int H>
class OrthogonalGroup {
 public:
  using AlgebraType = OrthogonalAlgebra<Scalar, H>;
  /// g ∈ O(h).
  using Group = typename AlgebraType::GroupElement;
  /// M ∈ so(h), skew-symmetric.
  using Algebra = typename AlgebraType::Element;

  template <class Activation>
  OrthogonalGroup(const Activation&, Index h) : algebra_(h) {
    static_assert(OrthogonalEquivariantActivation<Activation>,
                  "symflow::OrthogonalAction: O(h) is a symmetry only when the hidden activation commutes with "
                  "rotations (σ(gz) = gσ(z), e.g. symflow::Radial or symflow::Identity). Declare the activation "
                  "OrthogonalEquivariant (symflow/group/equivariance.hpp) if it does, or use the nonlinear "
                  "symflow::PseudoinverseAction (symflow/group/pinv_action.hpp)");
  }

  const AlgebraType& algebra() const { return algebra_; }
  Group compose(const Group& a, const Group& b) const { return a * b; }
  /// g⁻¹ = gᵀ.
  Group inverse(const Group& g) const { return g.transpose(); }
  Group transpose(const Group& g) const { return g.transpose(); }
  /// π(g) = g.
  Group pi(const Group& g) const { return g; }
  /// dπ(M) = M.
  Algebra dpi(const Algebra& m) const { return m; }

  /// g itself (W_{i+1} g⁻¹ = W_{i+1} gᵀ), after checking its shape. Orthogonality is not checked (it
  /// costs O(h³)); algebra().group_contains(g) does.
  const Group& check_group(const Group& g) const {
    check_square("group element g", g);
    return g;
  }
  void check_algebra(const Algebra& m) const { check_square("Lie algebra element M", m); }

  template <class X> void act_rows(const Group& g, X& x) const { x = g * x; }
  /// U ← U gᵀ.
  template <class U> void act_columns(const Group& g, U& u) const { u = u * g.transpose(); }
  template <class X, class Out> void add_rows(const Algebra& m, const X& x, Out&& out) const { out.noalias() += m * x; }
  template <class U, class Out> void add_columns(const Algebra& m, const U& u, Out&& out) const {
    out.noalias() -= u * m;
  }

  /// The orbit dimension at a generic point of a two-layer block (eq. 22 corrected): a skew M with
  /// U M = 0 and M V = 0 has rows and columns in K = ker U ∩ ker Vᵀ, of generic dimension (h − m − n)₊.
  static constexpr Index generic_orbit_dimension(Index m, Index h, Index n) {
    const auto pos = [](Index a) { return a > 0 ? a : Index(0); };
    const auto pairs = [](Index a) { return a * (a - 1) / 2; };
    return pairs(h) - pairs(pos(h - m - n));
  }

 private:
  template <class D> void check_square(const char* what, const Eigen::MatrixBase<D>& m) const {
    detail::require_shape(what, algebra_.size(), algebra_.size(), m.rows(), m.cols());
  }

  AlgebraType algebra_;
};

/// O(h) on hidden layer `Layer` of `Model`. Group elements are orthogonal h×h matrices, Lie-algebra
/// elements skew-symmetric ones. Domain: any θ; g must be orthogonal (gᵀg = I), which act does not
/// check (it costs O(h³)); algebra().group_contains(g) does.
template <class Model, int Layer>
class OrthogonalAction : public LinearHiddenLayerAction<Model, Layer, OrthogonalEquivariant> {
 public:
  using LinearHiddenLayerAction<Model, Layer, OrthogonalEquivariant>::LinearHiddenLayerAction;
};

template <class Model>
OrthogonalAction(Model) -> OrthogonalAction<Model, 1>;

}  // namespace symflow
