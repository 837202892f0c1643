// SPDX-License-Identifier: MIT
#pragma once
/// \file The general linear group GL_h acting on hidden layer i of a network whose activation is
/// linear (Prop. 7, Example 2; eqs. 12–13 and 17–18):
///
///   g · (W_i, b_i, W_{i+1}) = (g W_i, g b_i, W_{i+1} g⁻¹),   M̄θ = (M W_i, M b_i, −W_{i+1} M).
///
/// Every other parameter is left alone. The network function is unchanged for every input, because
/// W_{i+1} g⁻¹ σ(g z) = W_{i+1} σ(z) when σ is linear. Its conserved quantity is the layer-imbalance
/// matrix (symflow/conserved/layer_imbalance.hpp), Q_M = ⟨M, Q_i⟩_F.

#include <string>
#include <utility>

#include <Eigen/LU>

#include "symflow/core/config.hpp"
#include "symflow/core/matrix_functions.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"
#include "symflow/group/linear_action.hpp"

namespace symflow {

template <class Model, int Layer> class LayerImbalance;

/// GL_h on one hidden layer: π(g) = g, dπ(M) = M. Group and algebra elements are h×h matrices.
template <class Scalar, int H>
class GeneralLinearGroup {
 public:
  using AlgebraType = GeneralLinearAlgebra<Scalar, H>;
  using Group = typename AlgebraType::GroupElement;
  using Algebra = typename AlgebraType::Element;
  /// The conserved quantity: Q_i = W_i W_iᵀ (+ b_i b_iᵀ) − W_{i+1}ᵀ W_{i+1}, with Q_M = ⟨M, Q_i⟩_F.
  template <class Model, int Layer> using Quantity = LayerImbalance<Model, Layer>;

  template <class Activation>
  GeneralLinearGroup(const Activation&, Index h) : algebra_(h) {
    static_assert(GeneralLinearEquivariantActivation<Activation>,
                  "symflow::GeneralLinearAction: GL_h is a symmetry only of a linear hidden layer (σ(gz) = gσ(z) for "
                  "every invertible g, i.e. symflow::Identity or an activation declared GeneralLinearEquivariant). "
                  "Positively homogeneous activations admit symflow::ScalingAction, radial ones "
                  "symflow::OrthogonalAction; any activation admits the nonlinear symflow::PseudoinverseAction "
                  "(symflow/group/pinv_action.hpp)");
  }

  const AlgebraType& algebra() const { return algebra_; }
  Group compose(const Group& a, const Group& b) const { return a * b; }
  Group inverse(const Group& g) const {
    check_square("group element g", g);
    return detail::matrix_inverse(g);
  }
  Group transpose(const Group& g) const { return g.transpose(); }
  /// π(g) = g.
  Group pi(const Group& g) const { return g; }
  /// dπ(M) = M.
  Algebra dpi(const Algebra& m) const { return m; }

  /// The LU factors of gᵀ (W_{i+1} g⁻¹ is solved with them rather than forming g⁻¹), after checking
  /// that g is square and invertible to working precision.
  /// (At run-time size whatever h is: see symflow/core/matrix_functions.hpp.)
  Eigen::PartialPivLU<detail::RuntimeSquare<Group>> check_group(const Group& g) const {
    check_square("group element g", g);
    const auto lu = detail::lu_factorization(g.transpose());  // gᵀ = P⁻¹LU
    // Eigen's rcond estimate misses exactly zero pivots, so the pivots are checked as well.
    const auto pivots = lu.matrixLU().diagonal().cwiseAbs();
    const Scalar pivot_ratio = pivots.minCoeff() / pivots.maxCoeff();
    const Scalar rcond = lu.rcond();
    const Scalar eps = Eigen::NumTraits<Scalar>::epsilon();
    if (!(pivot_ratio > eps) || !(rcond > eps))
      throw std::invalid_argument("symflow::GeneralLinearAction: g is singular to working precision (smallest/largest "
                                  "LU pivot " + std::to_string(static_cast<double>(pivot_ratio)) +
                                  ", reciprocal condition estimate " + std::to_string(static_cast<double>(rcond)) +
                                  "); GL_h needs an invertible matrix");
    return lu;
  }
  void check_algebra(const Algebra& m) const { check_square("Lie algebra element M", m); }

  /// X ← g X (Eigen evaluates a product into a temporary before assigning it).
  template <class X> void act_rows(const Group& g, X& x) const { x = g * x; }
  /// U ← U g⁻¹ = (g⁻ᵀ Uᵀ)ᵀ, from the LU factors of gᵀ.
  template <class U> void act_columns(const Eigen::PartialPivLU<detail::RuntimeSquare<Group>>& lu, U& u) const {
    const typename U::PlainObject ug = lu.solve(u.transpose()).transpose();
    u = ug;
  }
  template <class X, class Out> void add_rows(const Algebra& m, const X& x, Out&& out) const { out.noalias() += m * x; }
  template <class U, class Out> void add_columns(const Algebra& m, const U& u, Out&& out) const {
    out.noalias() -= u * m;
  }

  /// ⟨M, Q_i⟩_F: Q_M from the quantity's value.
  template <class Q> static auto pair(const Algebra& m, const Q& q) { return m.cwiseProduct(q).sum(); }

  /// The orbit dimension at a generic point of a two-layer block with m outputs, h hidden units and n
  /// inputs (eq. 20): M ↦ (M V, −U M) has kernel {M : range M ⊆ ker U, M V = 0}, of dimension
  /// (h − m)₊ (h − n)₊.
  static constexpr Index generic_orbit_dimension(Index m, Index h, Index n) {
    const auto pos = [](Index a) { return a > 0 ? a : Index(0); };
    return h * h - pos(h - m) * pos(h - n);
  }

 private:
  template <class D> void check_square(const char* what, const Eigen::MatrixBase<D>& m) const {
    detail::require_shape(what, algebra_.size(), algebra_.size(), m.rows(), m.cols());
  }

  AlgebraType algebra_;
};

/// GL_h on hidden layer `Layer` (1 ≤ Layer ≤ L − 1) of `Model`. Group and Lie-algebra elements are
/// h×h matrices. Domain: any θ; g must be invertible (act throws otherwise).
template <class Model, int Layer>
class GeneralLinearAction : public LinearHiddenLayerAction<Model, Layer, GeneralLinearEquivariant> {
 public:
  using LinearHiddenLayerAction<Model, Layer, GeneralLinearEquivariant>::LinearHiddenLayerAction;
};

template <class Model>
GeneralLinearAction(Model) -> GeneralLinearAction<Model, 1>;

}  // namespace symflow
