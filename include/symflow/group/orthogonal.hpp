// SPDX-License-Identifier: MIT
#pragma once
/// \file The orthogonal group O(h) acting on hidden layer i of a network with a radial activation
/// σ(z) = f(‖z‖) z (Example 5; Prop. 7 with π(g) = g):
///
///   g · (W_i, b_i, W_{i+1}) = (g W_i, g b_i, W_{i+1} gᵀ),   M̄θ = (M W_i, M b_i, −W_{i+1} M),  Mᵀ = −M.
///
/// Linear hidden layers admit it too (O(h) ⊂ GL_h).

#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/detail/hidden_layer.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/lie_algebra.hpp"

namespace symflow {

/// O(h) on hidden layer `Layer` of `Model`. Group elements are orthogonal h×h matrices, Lie-algebra
/// elements skew-symmetric ones. Domain: any θ; g must be orthogonal (gᵀg = I), which act does not
/// check (it costs O(h³)); algebra().group_contains(g) does.
template <class Model, int Layer = 1>
class OrthogonalAction : public detail::HiddenLayer<Model, Layer> {
  using Base = detail::HiddenLayer<Model, Layer>;
  static_assert(OrthogonalEquivariantActivation<typename Model::Activation>,
                "symflow::OrthogonalAction: O(h) is a symmetry only when the hidden activation commutes with "
                "rotations (σ(gz) = gσ(z), e.g. symflow::Radial or symflow::Identity). Declare the activation "
                "OrthogonalEquivariant (symflow/group/equivariance.hpp) if it does, or use the nonlinear "
                "symflow::PseudoinverseAction (symflow/group/pinv_action.hpp)");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  using AlgebraType = OrthogonalAlgebra<Scalar, Base::width_at_compile_time>;
  /// g ∈ O(h).
  using Group = typename AlgebraType::GroupElement;
  /// M ∈ so(h), skew-symmetric.
  using Algebra = typename AlgebraType::Element;
  static constexpr LinearGroup group_kind = LinearGroup::orthogonal;

  OrthogonalAction()
    requires Model::is_fixed
      : OrthogonalAction(Model{}) {}
  explicit OrthogonalAction(Model model) : Base(std::move(model)), algebra_(this->hidden()) {}

  /// so(h): dimension h(h − 1)/2, basis, random elements, exp.
  const AlgebraType& algebra() const { return algebra_; }

  Group identity() const { return algebra_.identity(); }
  /// a·b, so that act(compose(a, b), θ) = act(a, act(b, θ)).
  Group compose(const Group& a, const Group& b) const { return a * b; }
  /// g⁻¹ = gᵀ.
  Group inverse(const Group& g) const { return g.transpose(); }
  /// gᵀ (= g⁻¹).
  Group transpose(const Group& g) const { return g.transpose(); }
  Group exp(const Algebra& m) const { return algebra_.exp(m); }
  /// π(g) = g.
  Group pi(const Group& g) const { return g; }
  /// dπ(M) = M.
  Algebra dpi(const Algebra& m) const { return m; }

  /// g·θ = θ with W_i ← g W_i, b_i ← g b_i, W_{i+1} ← W_{i+1} gᵀ.
  Params act(const Group& g, const Params& p) const {
    Params out = p;
    apply_inplace(g, out);
    return out;
  }

  /// M̄θ: M W_i, M b_i, −W_{i+1} M in those blocks, zero elsewhere.
  Params generator(const Algebra& m, const Params& p) const {
    Params out = this->model_.zero_params();
    add_generator(m, p, out);
    return out;
  }

  /// θ ← g·θ in place.
  void apply_inplace(const Group& g, Params& p) const {
    this->model_.check_params(p);
    this->check_square("group element g", g);
    auto w = this->in_weight(p);
    w = g * w;
    if constexpr (Model::has_bias) {
      auto b = this->in_bias(p);
      b = g * b;
    }
    auto u = this->out_weight(p);
    u = u * g.transpose();
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
OrthogonalAction(Model) -> OrthogonalAction<Model, 1>;

}  // namespace symflow
