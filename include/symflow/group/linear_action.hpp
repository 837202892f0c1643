// SPDX-License-Identifier: MIT
#pragma once
/// \file One linear action on a hidden layer for every group: a group policy `Tag` (a tag of
/// symflow/group/equivariance.hpp, or a user's own) supplies the representation — Lie algebra,
/// π, dπ, and how g multiplies the incoming rows and the outgoing columns — and this template
/// applies it to the junction's parameters (Prop. 7; eqs. 12–13 and 17–18):
///
///   g · (W_i, b_i, W_{i+1}) = (g W_i, g b_i, W_{i+1} π(g)⁻¹),   M̄θ = (M W_i, M b_i, −W_{i+1} dπ(M)).
///
/// Every other parameter is left alone. The network function is unchanged for every input, because
/// W_{i+1} π(g)⁻¹ σ(g z) = W_{i+1} σ(z) when σ(gz) = π(g)σ(z).
///
/// A representation `Tag::group<Scalar, H>` is constructed from (activation, h) and provides:
///   AlgebraType (with GroupElement, Element, identity(), exp(), basis(), dimension(), …), algebra();
///   compose, inverse, transpose, pi, dpi;
///   check_group(g) → the factor W_{i+1} is multiplied by (validating g), and check_algebra(M);
///   act_rows(g, X): X ← g X (X = W_i or b_i);  act_columns(factor, U): U ← U π(g)⁻¹;
///   add_rows(M, X, out): out += M X;           add_columns(M, U, out): out −= U dπ(M);
///   optionally generic_orbit_dimension(m, h, n) and the conserved quantity it gives (Quantity, pair).

#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/detail/hidden_layer.hpp"
#include "symflow/group/equivariance.hpp"

namespace symflow {

/// The linear action of the group of policy `Tag` on hidden layer `Layer` of `Model`.
template <class Model, int Layer, class Tag>
class LinearHiddenLayerAction : public detail::HiddenLayer<Model, Layer> {
  using Base = detail::HiddenLayer<Model, Layer>;

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  /// The group policy.
  using GroupTag = Tag;
  /// Its representation on this layer: algebra, π, dπ, the row and column actions.
  using Representation = typename Tag::template group<Scalar, Base::width_at_compile_time>;
  using AlgebraType = typename Representation::AlgebraType;
  using Group = typename AlgebraType::GroupElement;
  using Algebra = typename AlgebraType::Element;

  LinearHiddenLayerAction()
    requires Model::is_fixed
      : LinearHiddenLayerAction(Model{}) {}
  explicit LinearHiddenLayerAction(Model model)
      : Base(std::move(model)), group_(this->activation(), this->hidden()) {}

  const Representation& representation() const { return group_; }
  /// The Lie algebra: dimension, basis, random elements, exp.
  const AlgebraType& algebra() const { return group_.algebra(); }

  Group identity() const { return group_.algebra().identity(); }
  /// So that act(compose(a, b), θ) = act(a, act(b, θ)).
  Group compose(const Group& a, const Group& b) const { return group_.compose(a, b); }
  Group inverse(const Group& g) const { return group_.inverse(g); }
  /// gᵀ: the action of gᵀ is the adjoint of the action of g (⟨g·θ, θ'⟩ = ⟨θ, gᵀ·θ'⟩).
  Group transpose(const Group& g) const { return group_.transpose(g); }
  Group exp(const Algebra& m) const { return group_.algebra().exp(m); }
  /// π(g): how g acts on σ(z), σ(gz) = π(g)σ(z).
  Group pi(const Group& g) const { return group_.pi(g); }
  /// dπ(M).
  Algebra dpi(const Algebra& m) const { return group_.dpi(m); }

  /// g·θ = θ with W_i ← g W_i, b_i ← g b_i, W_{i+1} ← W_{i+1} π(g)⁻¹.
  Params act(const Group& g, const Params& p) const {
    Params out = p;
    apply_inplace(g, out);
    return out;
  }

  /// M̄θ = d/dt exp(tM)·θ at t = 0: M W_i, M b_i, −W_{i+1} dπ(M) in those blocks, zero elsewhere.
  Params generator(const Algebra& m, const Params& p) const {
    Params out = this->model_.zero_params();
    add_generator(m, p, out);
    return out;
  }

  /// θ ← g·θ in place (the product action applies each layer's factor this way).
  void apply_inplace(const Group& g, Params& p) const {
    this->model_.check_params(p);
    decltype(auto) undo = group_.check_group(g);  // a reference where the policy needs no copy
    auto w = this->in_weight(p);
    group_.act_rows(g, w);
    if constexpr (Base::Junction::has_bias) {
      auto b = this->in_bias(p);
      group_.act_rows(g, b);
    }
    auto u = this->out_weight(p);
    group_.act_columns(undo, u);
  }

  /// out += M̄θ.
  void add_generator(const Algebra& m, const Params& p, Params& out) const {
    this->model_.check_params(p);
    this->model_.check_params(out);
    group_.check_algebra(m);
    group_.add_rows(m, this->in_weight(p), this->in_weight(out));
    if constexpr (Base::Junction::has_bias) group_.add_rows(m, this->in_bias(p), this->in_bias(out));
    group_.add_columns(m, this->out_weight(p), this->out_weight(out));
  }

 private:
  Representation group_;
};

}  // namespace symflow
