// SPDX-License-Identifier: MIT
#pragma once
/// \file The positive scaling group (R_{>0})^h acting on hidden layer i of a network whose activation
/// is positively homogeneous of degree α, σ(cz) = c^α σ(z) for c > 0 (Examples 3–4; π(g) = g^α):
///
///   c · (W_i, b_i, W_{i+1}) = (diag(c) W_i, c ⊙ b_i, W_{i+1} diag(c)^{−α}),
///   M̄θ = (diag(m) W_i, m ⊙ b_i, −α W_{i+1} diag(m)).
///
/// Group and algebra elements are stored as their diagonals, so act and generator cost O(h(n_{i−1} +
/// n_{i+1})). Linear hidden layers admit it too, with α = 1.

#include <cmath>
#include <string>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/detail/hidden_layer.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"

namespace symflow {

/// (R_{>0})^h on hidden layer `Layer` of `Model`. Domain: any θ; every scale factor c_k must be
/// positive and finite (act throws std::invalid_argument otherwise).
template <class Model, int Layer = 1>
class ScalingAction : public detail::HiddenLayer<Model, Layer> {
  using Base = detail::HiddenLayer<Model, Layer>;
  static_assert(ScalingEquivariantActivation<typename Model::Activation>,
                "symflow::ScalingAction: positive scaling is a symmetry only of a positively homogeneous hidden "
                "activation (σ(cz) = c^α σ(z), e.g. ReLU, LeakyReLU, Homogeneous, Identity). Declare the activation "
                "ScalingEquivariant with degree() (symflow/group/equivariance.hpp) if it is, or use the nonlinear "
                "symflow::PseudoinverseAction (symflow/group/pinv_action.hpp)");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  using AlgebraType = DiagonalAlgebra<Scalar, Base::width_at_compile_time>;
  /// c ∈ (R_{>0})^h, the diagonal of g.
  using Group = typename AlgebraType::GroupElement;
  /// m ∈ R^h, the diagonal of M.
  using Algebra = typename AlgebraType::Element;
  static constexpr LinearGroup group_kind = LinearGroup::positive_scaling;

  ScalingAction()
    requires Model::is_fixed
      : ScalingAction(Model{}) {}
  explicit ScalingAction(Model model)
      : Base(std::move(model)),
        algebra_(this->hidden()),
        alpha_(static_cast<Scalar>(homogeneity_degree(this->model_.activation()))) {}

  /// The diagonal algebra: dimension h, basis E_kk, random elements, exp.
  const AlgebraType& algebra() const { return algebra_; }
  /// α, the activation's degree of homogeneity.
  Scalar degree() const { return alpha_; }

  Group identity() const { return algebra_.identity(); }
  /// a ⊙ b (diagonal matrices commute).
  Group compose(const Group& a, const Group& b) const { return a.cwiseProduct(b); }
  Group inverse(const Group& g) const { return g.cwiseInverse(); }
  /// Diagonal matrices are symmetric: gᵀ = g.
  Group transpose(const Group& g) const { return g; }
  Group exp(const Algebra& m) const { return algebra_.exp(m); }
  /// π(c) = c^α.
  Group pi(const Group& g) const {
    if (alpha_ == Scalar(1)) return g;
    return power(g, alpha_);
  }
  /// dπ(m) = α m.
  Algebra dpi(const Algebra& m) const { return alpha_ * m; }

  /// c·θ = θ with W_i ← diag(c) W_i, b_i ← c ⊙ b_i, W_{i+1} ← W_{i+1} diag(c)^{−α}.
  Params act(const Group& g, const Params& p) const {
    Params out = p;
    apply_inplace(g, out);
    return out;
  }

  /// M̄θ: diag(m) W_i, m ⊙ b_i, −α W_{i+1} diag(m) in those blocks, zero elsewhere.
  Params generator(const Algebra& m, const Params& p) const {
    Params out = this->model_.zero_params();
    add_generator(m, p, out);
    return out;
  }

  /// θ ← c·θ in place.
  void apply_inplace(const Group& g, Params& p) const {
    this->model_.check_params(p);
    this->check_vector("scaling factors c", g);
    for (Index k = 0; k < g.size(); ++k) {
      using std::isfinite;
      if (!(g[k] > Scalar(0)) || !isfinite(g[k]))
        throw std::invalid_argument("symflow::ScalingAction: scaling factor c_" + std::to_string(k) + " = " +
                                    std::to_string(static_cast<double>(g[k])) +
                                    "; the positive scaling group needs every factor positive and finite");
    }
    auto w = this->in_weight(p);
    w = g.asDiagonal() * w;
    if constexpr (Model::has_bias) {
      auto b = this->in_bias(p);
      b = b.cwiseProduct(g);
    }
    const Group undo = alpha_ == Scalar(1) ? g.cwiseInverse().eval() : power(g, -alpha_);
    auto u = this->out_weight(p);
    u = u * undo.asDiagonal();
  }

  /// out += M̄θ.
  void add_generator(const Algebra& m, const Params& p, Params& out) const {
    this->model_.check_params(p);
    this->model_.check_params(out);
    this->check_vector("Lie algebra element m", m);
    this->in_weight(out).noalias() += m.asDiagonal() * this->in_weight(p);
    if constexpr (Model::has_bias) this->in_bias(out) += m.cwiseProduct(this->in_bias(p));
    this->out_weight(out).noalias() -= this->out_weight(p) * (alpha_ * m).asDiagonal();
  }

 private:
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

template <class Model>
ScalingAction(Model) -> ScalingAction<Model, 1>;

}  // namespace symflow
