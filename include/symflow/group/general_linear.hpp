// SPDX-License-Identifier: MIT
#pragma once
/// \file The general linear group GL_h acting on hidden layer i of a network whose activation is
/// linear (Prop. 7, Example 2; eqs. 12–13 and 17–18):
///
///   g · (W_i, b_i, W_{i+1}) = (g W_i, g b_i, W_{i+1} g⁻¹),   M̄θ = (M W_i, M b_i, −W_{i+1} M).
///
/// Every other parameter is left alone. The network function is unchanged for every input, because
/// W_{i+1} g⁻¹ σ(g z) = W_{i+1} σ(z) when σ is linear.

#include <string>
#include <utility>

#include <Eigen/LU>

#include "symflow/core/config.hpp"
#include "symflow/group/detail/hidden_layer.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"

namespace symflow {

/// GL_h on hidden layer `Layer` (1 ≤ Layer ≤ L − 1) of `Model`. Group elements and Lie-algebra
/// elements are h×h matrices. Domain: any θ; g must be invertible (act throws otherwise).
template <class Model, int Layer = 1>
class GeneralLinearAction : public detail::HiddenLayer<Model, Layer> {
  using Base = detail::HiddenLayer<Model, Layer>;
  static_assert(GeneralLinearEquivariantActivation<typename Model::Activation>,
                "symflow::GeneralLinearAction: GL_h is a symmetry only of a linear hidden layer (σ(gz) = gσ(z) for "
                "every invertible g, i.e. symflow::Identity). Positively homogeneous activations admit "
                "symflow::ScalingAction, radial ones symflow::OrthogonalAction; any activation admits the nonlinear "
                "symflow::PseudoinverseAction (symflow/group/pinv_action.hpp)");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  using AlgebraType = GeneralLinearAlgebra<Scalar, Base::width_at_compile_time>;
  /// g ∈ GL_h, an invertible h×h matrix.
  using Group = typename AlgebraType::GroupElement;
  /// M ∈ gl(h), any h×h matrix.
  using Algebra = typename AlgebraType::Element;
  static constexpr LinearGroup group_kind = LinearGroup::general_linear;

  GeneralLinearAction()
    requires Model::is_fixed
      : GeneralLinearAction(Model{}) {}
  explicit GeneralLinearAction(Model model) : Base(std::move(model)), algebra_(this->hidden()) {}

  /// gl(h): dimension, basis, random elements, exp.
  const AlgebraType& algebra() const { return algebra_; }

  Group identity() const { return algebra_.identity(); }
  /// a·b, so that act(compose(a, b), θ) = act(a, act(b, θ)).
  Group compose(const Group& a, const Group& b) const { return a * b; }
  Group inverse(const Group& g) const {
    this->check_square("group element g", g);
    return g.inverse();
  }
  /// gᵀ: the action of gᵀ is the adjoint of the action of g (⟨g·θ, θ'⟩ = ⟨θ, gᵀ·θ'⟩).
  Group transpose(const Group& g) const { return g.transpose(); }
  Group exp(const Algebra& m) const { return algebra_.exp(m); }
  /// π(g) = g.
  Group pi(const Group& g) const { return g; }
  /// dπ(M) = M.
  Algebra dpi(const Algebra& m) const { return m; }

  /// g·θ = θ with W_i ← g W_i, b_i ← g b_i, W_{i+1} ← W_{i+1} g⁻¹.
  Params act(const Group& g, const Params& p) const {
    Params out = p;
    apply_inplace(g, out);
    return out;
  }

  /// M̄θ = d/dt exp(tM)·θ at t = 0: M W_i, M b_i, −W_{i+1} M in those blocks, zero elsewhere.
  Params generator(const Algebra& m, const Params& p) const {
    Params out = this->model_.zero_params();
    add_generator(m, p, out);
    return out;
  }

  /// θ ← g·θ in place (the product action applies each layer's factor this way).
  void apply_inplace(const Group& g, Params& p) const {
    this->model_.check_params(p);
    this->check_square("group element g", g);
    const Eigen::PartialPivLU<Group> lu(g.transpose());  // gᵀ = P⁻¹LU
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
    auto w = this->in_weight(p);
    w = g * w;  // Eigen evaluates a product into a temporary before assigning it
    if constexpr (Model::has_bias) {
      auto b = this->in_bias(p);
      b = g * b;
    }
    auto u = this->out_weight(p);
    // U g⁻¹ = (g⁻ᵀ Uᵀ)ᵀ, solved with the LU factors of gᵀ rather than forming g⁻¹.
    const typename decltype(u)::PlainObject ug = lu.solve(u.transpose()).transpose();
    u = ug;
  }

  /// out += M̄θ.
  void add_generator(const Algebra& m, const Params& p, Params& out) const {
    this->model_.check_params(p);
    this->model_.check_params(out);
    this->check_square("Lie algebra element M", m);
    this->in_weight(out).noalias() += m * this->in_weight(p);
    if constexpr (Model::has_bias) this->in_bias(out).noalias() += m * this->in_bias(p);
    this->out_weight(out).noalias() -= this->out_weight(p) * m;
  }

 private:
  AlgebraType algebra_;
};

template <class Model>
GeneralLinearAction(Model) -> GeneralLinearAction<Model, 1>;

}  // namespace symflow
