// SPDX-License-Identifier: MIT
#pragma once
/// \file The conserved quantities of the junctions of a symflow::Sequential (the three families of
/// Kunin et al., "Neural Mechanics", ICLR 2021, and the layer imbalance of linear junctions).
/// Layers are numbered 1, …, num_layers in list order; a junction is named by its first
/// parameterised layer I.
///
/// | quantity                 | junction                                   | group (symmetry of L)           |
/// | ------------------------ | ------------------------------------------ | ------------------------------- |
/// | RescaleImbalance<Net, I> | I → σ (degree α homogeneous) → I + 2        | (R>0)^h on units/channels of I  |
/// | LinearImbalance<Net, I>  | I → Identity (GL-equivariant σ) → I + 2     | GL_h on units/channels of I     |
/// | NormalizedScale<Net, I>  | I → LayerNorm / BatchNorm                   | w ↦ c w (LN: all of I; BN: per channel) |
/// | Translation<Net, I>      | I = Dense head of softmax cross-entropy, or Dense → LayerNorm | W ↦ W + 1uᵀ, b ↦ b + β1 |
///
/// Every quadratic quantity is Q(θ) = B(θ, θ) for a bilinear form B (form(x, y)) with B(θ, ∇L) = 0
/// exactly at every θ — entry by entry, the pairing of ∇L with the generators of the group — and
/// every linear one is Q(θ) = A θ (linear(x)) with A ∇L = 0. Both facts give the exact discrete
/// dynamics of symflow/junction/dynamics.hpp.

#include <string>

#include "symflow/core/config.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/junction/units.hpp"
#include "symflow/model/loss.hpp"
#include "symflow/model/sequential.hpp"

namespace symflow {

namespace detail {

// The bilinear forms (and the linear map) of the four junction families, on the two layers of a
// junction and raw pointers to their parameters in x and y: the compile-time quantities below and
// the run-time ones of symflow/junction/runtime_junction.hpp evaluate these same functions.

/// Throws std::invalid_argument unless layer I makes as many units as layer I + 2 reads.
inline void require_junction_units(const char* quantity, Index made, Index read) {
  if (made != read)
    throw std::invalid_argument(std::string("symflow::") + quantity + ": layer I has " + std::to_string(made) +
                                " units but layer I + 2 reads " + std::to_string(read));
}

/// Rescale: B(x, y)_k = ⟨x, y⟩ over unit k's incoming parameters (layer a) − α ⟨x, y⟩ over its
/// outgoing weights (layer b).
template <int Units, class A, class B, class S>
Eigen::Matrix<S, Units, 1> rescale_form(const A& a, const B& b, S alpha, const S* ax, const S* ay, const S* bx,
                                        const S* by) {
  return incoming_dots(a, ax, ay) - alpha * outgoing_dots<Units>(b, bx, by);
}

/// [W b]_x [W b]_yᵀ of layer a: what its units receive, paired unit by unit.
template <class A, class S>
Eigen::Matrix<S, A::out_c, A::out_c> incoming_gram(const A& a, const S* x, const S* y) {
  return incoming(a, x) * incoming(a, y).transpose();
}

/// U_x U_yᵀ of layer b (U: its weights unfolded per input unit): what the units send, paired.
template <int Units, class B, class S>
Eigen::Matrix<S, Units, Units> outgoing_gram(const B& b, const S* x, const S* y) {
  return unfold_outgoing<Units>(b, x) * unfold_outgoing<Units>(b, y).transpose();
}

/// Linear imbalance: B(x, y) = [W b]_x [W b]_yᵀ − U_x U_yᵀ.
template <int Units, class A, class B, class S>
Eigen::Matrix<S, Units, Units> linear_form(const A& a, const B& b, const S* ax, const S* ay, const S* bx, const S* by) {
  Eigen::Matrix<S, Units, Units> q = incoming_gram(a, ax, ay);
  q -= outgoing_gram<Units>(b, bx, by);
  return q;
}

/// Normalised scale: ⟨x, y⟩ over each unit's incoming parameters (per unit), or over all of them.
template <bool PerUnit, class A, class S>
Eigen::Matrix<S, PerUnit ? A::out_c : 1, 1> normalized_scale_form(const A& a, const S* x, const S* y) {
  const auto d = incoming_dots(a, x, y);
  if constexpr (PerUnit) return d;
  else return Eigen::Matrix<S, 1, 1>::Constant(1, d.sum());
}

/// Translation: A x = (1ᵀW_x, 1ᵀb_x) of a dense layer.
template <int Length, class L, class S>
Eigen::Matrix<S, Length, 1> translation_linear(const L& l, const S* p) {
  Eigen::Matrix<S, Length, 1> v(l.in_shape().size() + (L::has_bias ? 1 : 0));
  v.head(l.in_shape().size()) = l.weight(p).colwise().sum().transpose();
  if constexpr (L::has_bias) v[v.size() - 1] = l.bias(p).sum();
  return v;
}

template <class Net, int I>
class JunctionBase {
 public:
  using ModelType = Net;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  static constexpr int layer = I;
  explicit JunctionBase(Net net) : net_(std::move(net)) {}
  const Net& model() const { return net_; }

 protected:
  template <int J> const Scalar* at(const Params& p) const { return p.data() + net_.offset(J); }
  Net net_;
};

}  // namespace detail

/// Q_k = ‖row k of W_I‖² + b_k² − α ‖unit k's columns of W_{I+2}‖², one entry per unit (channel) of
/// layer I, for a junction I → σ → I + 2 with σ positively homogeneous of degree α: the group
/// c ↦ (diag(c)[W_I b_I], W_{I+2} diag(c)^{−α}) leaves F unchanged (σ(cz) = c^α σ(z)).
template <class Net, int I>
class RescaleImbalance : public detail::JunctionBase<Net, I> {
  using Base = detail::JunctionBase<Net, I>;
  static_assert(I + 2 <= Net::num_layers && Net::template Layer<I>::parameterised &&
                    Net::template Layer<I + 2>::parameterised,
                "symflow::RescaleImbalance<Net, I>: layer I and layer I + 2 must be Dense or Conv2d, with the "
                "activation at I + 1");
  using Act = typename Net::template Layer<I + 1>::ActivationType;
  static_assert(ScalingEquivariantActivation<Act>,
                "symflow::RescaleImbalance: the activation between the two layers must be positively homogeneous "
                "(ReLU, LeakyReLU, Homogeneous, Identity, or declared ScalingEquivariant with degree())");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  static constexpr int units_at_compile_time = Net::template Layer<I>::out_c;
  using Value = Eigen::Matrix<Scalar, units_at_compile_time, 1>;
  static constexpr bool is_linear = false;
  /// Q = B(θ, θ) with B(θ, ∇L) = 0: one GD step changes it by η² Q(∇L) (symflow::gd_step_change).
  static constexpr bool is_quadratic = true;

  explicit RescaleImbalance(Net net) : Base(std::move(net)) {
    detail::require_junction_units("RescaleImbalance", this->net_.template layer<I>().out_units(),
                                   this->net_.template layer<I + 2>().in_units());
    alpha_ = static_cast<Scalar>(homogeneity_degree(this->net_.template layer<I + 1>().activation()));
  }
  Scalar degree() const { return alpha_; }
  Index units() const { return this->net_.template layer<I>().out_units(); }

  /// B(x, y)_k = ⟨x, y⟩ over unit k's incoming parameters − α ⟨x, y⟩ over its outgoing weights.
  Value form(const Params& x, const Params& y) const {
    return detail::rescale_form<units_at_compile_time>(this->net_.template layer<I>(), this->net_.template layer<I + 2>(),
                                                       alpha_, this->template at<I>(x), this->template at<I>(y),
                                                       this->template at<I + 2>(x), this->template at<I + 2>(y));
  }
  Value value(const Params& p) const { return form(p, p); }
  /// d/dt Q(θ + tv) = B(θ, v) + B(v, θ), exact (what directional_derivative and the law counts use).
  Value derivative(const Params& p, const Params& v) const { return form(p, v) + form(v, p); }
  static std::string name() { return "rescale"; }

 private:
  Scalar alpha_{1};
};

/// Q = [W_I b_I][W_I b_I]ᵀ − Σ_p W_{I+2,p}ᵀ W_{I+2,p} (h × h; W_{I+2,p} the columns of position p of
/// each input unit), for a junction I → σ → I + 2 with σ GL-equivariant (σ(gz) = gσ(z), i.e. linear):
/// g ↦ (g[W_I b_I], W_{I+2}(g⁻¹ ⊗ I_P)) leaves F unchanged. Its diagonal is the rescale imbalance.
template <class Net, int I>
class LinearImbalance : public detail::JunctionBase<Net, I> {
  using Base = detail::JunctionBase<Net, I>;
  static_assert(I + 2 <= Net::num_layers && Net::template Layer<I>::parameterised &&
                    Net::template Layer<I + 2>::parameterised,
                "symflow::LinearImbalance<Net, I>: layer I and layer I + 2 must be Dense or Conv2d, with the "
                "activation at I + 1");
  using Act = typename Net::template Layer<I + 1>::ActivationType;
  static_assert(GeneralLinearEquivariantActivation<Act>,
                "symflow::LinearImbalance: GL_h acts only through a GL-equivariant (linear) activation such as "
                "symflow::Identity or one declared GeneralLinearEquivariant; for ReLU-like activations use "
                "symflow::RescaleImbalance");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  static constexpr int units_at_compile_time = Net::template Layer<I>::out_c;
  using Value = Eigen::Matrix<Scalar, units_at_compile_time, units_at_compile_time>;
  static constexpr bool is_linear = false;
  /// Q = B(θ, θ) with B(θ, ∇L) = 0: one GD step changes it by η² Q(∇L) (symflow::gd_step_change).
  static constexpr bool is_quadratic = true;

  explicit LinearImbalance(Net net) : Base(std::move(net)) {
    detail::require_junction_units("LinearImbalance", this->net_.template layer<I>().out_units(),
                                   this->net_.template layer<I + 2>().in_units());
  }
  Index units() const { return this->net_.template layer<I>().out_units(); }

  /// B(x, y) = [W b]_x [W b]_yᵀ − U_x U_yᵀ (U: outgoing weights unfolded per unit).
  Value form(const Params& x, const Params& y) const {
    return detail::linear_form<units_at_compile_time>(this->net_.template layer<I>(), this->net_.template layer<I + 2>(),
                                                      this->template at<I>(x), this->template at<I>(y),
                                                      this->template at<I + 2>(x), this->template at<I + 2>(y));
  }
  Value value(const Params& p) const { return form(p, p); }
  /// d/dt Q(θ + tv) = B(θ, v) + B(v, θ), exact (what directional_derivative and the law counts use).
  Value derivative(const Params& p, const Params& v) const { return form(p, v) + form(v, p); }
  static std::string name() { return "linear_imbalance"; }
};

/// ‖w‖² of each group of parameters that feeds a normalisation layer at I + 1 (with ε = 0 the
/// layer's output is unchanged by w ↦ c w, c > 0):
///  - LayerNorm standardises each sample over all units, so the group is all of layer I: W_I and
///    b_I together (scaling W alone does not commute with a non-zero bias) — one value;
///  - BatchNorm standardises each unit (channel) over the batch, so each unit k is its own group:
///    row k of W_I and b_k — one value per unit. The bias is more than invariant there: BatchNorm
///    removes each unit's batch mean, so ∂L/∂b_I = 0 identically and b_I never moves under plain GD.
template <class Net, int I>
class NormalizedScale : public detail::JunctionBase<Net, I> {
  using Base = detail::JunctionBase<Net, I>;
  static_assert(I + 1 <= Net::num_layers && Net::template Layer<I>::parameterised,
                "symflow::NormalizedScale<Net, I>: layer I must be Dense or Conv2d, followed by LayerNorm or BatchNorm");
  using Norm = typename Net::template Layer<I + 1>;
  static_assert(requires { requires Norm::is_normalization; },
                "symflow::NormalizedScale<Net, I>: layer I + 1 must be symflow::LayerNorm or symflow::BatchNorm");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  static constexpr bool per_unit = Norm::per_channel;
  using Value = Eigen::Matrix<Scalar, per_unit ? Net::template Layer<I>::out_c : 1, 1>;
  static constexpr bool is_linear = false;
  /// Q = B(θ, θ) with B(θ, ∇L) = 0: one GD step changes it by η² Q(∇L) (symflow::gd_step_change).
  static constexpr bool is_quadratic = true;

  explicit NormalizedScale(Net net) : Base(std::move(net)) {}
  /// Number of groups: units of layer I for BatchNorm, 1 for LayerNorm.
  Index groups() const { return per_unit ? this->net_.template layer<I>().out_units() : 1; }
  /// ε of the normalisation: the symmetry (and the dynamics) are exact only for ε = 0.
  double epsilon() const { return this->net_.template layer<I + 1>().epsilon(); }

  Value form(const Params& x, const Params& y) const {
    return detail::normalized_scale_form<per_unit>(this->net_.template layer<I>(), this->template at<I>(x),
                                                   this->template at<I>(y));
  }
  Value value(const Params& p) const { return form(p, p); }
  /// d/dt Q(θ + tv) = B(θ, v) + B(v, θ), exact (what directional_derivative and the law counts use).
  Value derivative(const Params& p, const Params& v) const { return form(p, v) + form(v, p); }
  static std::string name() { return "scale"; }
};

/// (1ᵀW_I, 1ᵀb_I): the sum over units (classes) of a dense layer's rows and bias, conserved when
/// adding the same vector u to every row (and the same β to every bias) leaves L unchanged:
///  - the last layer under softmax cross-entropy (softmax(F + 1·c) = softmax(F));
///  - a dense layer feeding LayerNorm (each sample's mean over units is removed).
template <class Net, int I>
class Translation : public detail::JunctionBase<Net, I> {
  using Base = detail::JunctionBase<Net, I>;
  using L = typename Net::template Layer<I>;
  static_assert(requires { requires L::is_dense; },
                "symflow::Translation<Net, I>: layer I must be Dense (the softmax head, or a layer feeding LayerNorm)");

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  static constexpr int length_at_compile_time = add_sizes(L::in_width, L::has_bias ? 1 : 0);
  using Value = Eigen::Matrix<Scalar, length_at_compile_time, 1>;
  static constexpr bool is_linear = true;
  static constexpr bool is_quadratic = false;

  explicit Translation(Net net) : Base(std::move(net)) {}

  /// A x = (1ᵀW_x, 1ᵀb_x).
  Value linear(const Params& x) const {
    return detail::translation_linear<length_at_compile_time>(this->net_.template layer<I>(), this->template at<I>(x));
  }
  Value value(const Params& p) const { return linear(p); }
  /// Linear: d/dt Q(θ + tv) = A v.
  Value derivative(const Params&, const Params& v) const { return linear(v); }
  static std::string name() { return "translation"; }
};

}  // namespace symflow
