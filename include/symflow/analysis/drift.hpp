// SPDX-License-Identifier: MIT
#pragma once
/// \file How discrete optimisers break the conservation laws of gradient flow (Appendix D, §C.4).
///
/// Gradient descent. For a quantity that is a quadratic form, Q(θ) = B(θ, θ) with B symmetric (the
/// layer imbalance, its trace, the per-unit scaling imbalance, every Q_M of Prop. 12), one step
/// θ' = θ − ηg with g = ∇L(θ) changes Q by exactly
///     Q(θ') − Q(θ) = −2η B(θ, g) + η² Q(g) = η² Q(g),
/// since B(θ, ∇L) = ½⟨∇Q, ∇L⟩ = 0 is the conservation law itself. For the two-layer linear network
/// and Q = Tr[UᵀU − VVᵀ] this is eq. (41), η²(‖∂L/∂U‖² − ‖∂L/∂V‖²), and |η² Q(g)| ≤ η²‖g‖² is the
/// bound (35) with |dL/dt| = ‖∇L‖² along θ̇ = −∇L. For a non-quadratic Q (eq. 48 with tanh or
/// sigmoid) the step changes Q by ½η² gᵀ∇²Q g + O(η³). Either way the drift per step is O(η²), so
/// halving η divides the drift of one step (or of a fixed number of steps early in a run) by 4,
/// while the drift accumulated over a fixed stretch of time, ∝ (time/η) · η², halves.
///
/// Heavy-ball momentum, θ_{t+1} = θ_t − η∇L(θ_t) + β(θ_t − θ_{t−1}) (Momentum, not Nesterov). With
/// the displacement v_t = θ_t − θ_{t−1} and the discrete Noether charge K_t = B(θ_t, v_t) =
/// ½ DQ(θ_t)[v_t] of a quadratic Q, the exact identities
///     K_{t+1} = β K_t + Q(v_{t+1}),     Q_{t+1} − Q_t = K_{t+1} + β K_t
/// hold (expand Q(θ_t + v_{t+1}) and use B(θ_t, ∇L(θ_t)) = 0). Starting at rest (K_0 = 0) the charge
/// is fed by Q(v), the "kinetic" term that breaks the symmetry of the Lagrangian (32) for
/// symmetric M, so eq. (33)'s decay J ∝ e^{−t/τ} does not hold for the conserved Q_M; once the
/// velocity has settled, v ≈ −η∇L/(1 − β) and the drift per step is ≈ (1+β)/(1−β)³ η² Q(∇L): at equal
/// effective learning rate η/(1 − β) heavy ball drifts (1+β)/(1−β) times as much as gradient descent
/// over the same stretch of trajectory. For an antisymmetric generator (O(h) on a radial layer)
/// Q(v) = ⟨v, M̄v⟩ = 0 and the charge K_t = ⟨M̄θ_t, v_t⟩ decays exactly as β^t: the discrete form of
/// eq. (33), and zero at every step when the run starts at rest.

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "symflow/conserved/quantity.hpp"
#include "symflow/core/config.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/model/mlp.hpp"
#include "symflow/flow/observer.hpp"

namespace symflow {

/// Q(θ − ηg) − Q(θ) = η² Q(g), exact for a quadratic quantity when g = ∇L(θ) (generalises eq. 41).
/// The sign and scale are those of q: for LayerImbalanceTrace (incoming − outgoing) it is minus
/// eq. (41); for HalfTraceOutgoingMinusIncoming (the paper's ½Tr[UᵀU − VVᵀ]) half of eq. (41).
template <QuadraticQuantity Q, class DG>
typename Q::Value gd_step_change(const Q& q, const Eigen::MatrixBase<DG>& gradient, double learning_rate) {
  using Scalar = typename Q::Scalar;
  const auto g = detail::convert_checked<typename Q::Params>("gradient", gradient);
  return typename Q::Value(Scalar(learning_rate * learning_rate) * q.value(g));
}

namespace detail {
/// η²(‖∂L/∂W_{i+1}‖² − ‖∂L/∂W_i‖² − ‖∂L/∂b_i‖²) at junction I (squares summed in double for float).
template <int I, class Model, class DG>
typename Model::Scalar outgoing_minus_incoming_change(const Model& model, const Eigen::MatrixBase<DG>& gradient,
                                                      double learning_rate) {
  using Scalar = typename Model::Scalar;
  using J = junction<Model, I>;
  const auto g = detail::convert_checked<typename Model::Params>("gradient", gradient);
  accumulator_t<Scalar> change = sum_of_squares(J::out_weight(model, g)) - sum_of_squares(J::in_weight(model, g));
  if constexpr (J::has_bias) change -= sum_of_squares(J::in_bias(model, g));
  return static_cast<Scalar>(accumulator_t<Scalar>(learning_rate * learning_rate) * change);
}
}  // namespace detail

/// Eq. (41): the change in one gradient-descent step of Prop. 13's Q = Tr[UᵀU − VVᵀ], outgoing minus
/// incoming, full trace (= 2 × HalfTraceOutgoingMinusIncoming = −LayerImbalanceTrace), of a
/// two-layer network F = U σ(V X) (U = W_2, V = W_1, g = ∇L(θ)):
///     η²(‖∂L/∂U‖² − ‖∂L/∂V‖² − ‖∂L/∂b_1‖²)
/// (the bias term only for BiasedMlp). Exact when that Q is conserved by gradient flow (σ linear,
/// ReLU or LeakyReLU). The squares are summed in double for float gradients.
template <MlpModel Model, class DG>
typename Model::Scalar outgoing_minus_incoming_trace_gd_change(const Model& model, const Eigen::MatrixBase<DG>& gradient,
                                                               double learning_rate) {
  static_assert(Model::depth == 2,
                "symflow::outgoing_minus_incoming_trace_gd_change: eq. (41) is for a two-layer network U σ(V X)");
  return detail::outgoing_minus_incoming_change<1>(model, gradient, learning_rate);
}

/// Eq. (41) at junction I of a Sequential (Dense I, activation I + 1, Dense I + 2; U = W_{I+2},
/// V = W_I) or of a residual block's layers: η²(‖∂L/∂U‖² − ‖∂L/∂V‖² − ‖∂L/∂b_I‖²), the exact
/// one-step change of Tr[UᵀU − VVᵀ] (− ‖b_I‖²), whatever the layers before and after. It needs that
/// trace to be conserved: the activation linear or positively homogeneous of degree 1 (ReLU,
/// LeakyReLU); throws std::invalid_argument for another degree (then α‖U‖² − ‖V‖² is the conserved
/// one: gd_step_change with symflow::ScalingImbalance).
template <int I = 1, LayerListModel Net, class DG>
typename Net::Scalar outgoing_minus_incoming_trace_gd_change(const Net& net, const Eigen::MatrixBase<DG>& gradient,
                                                             double learning_rate) {
  static_assert(is_junction<Net, I>,
                "symflow::outgoing_minus_incoming_trace_gd_change<I>: I must name a dense junction of the Sequential "
                "(Dense layer I, an activation, Dense layer I + 2); convolutions and normalisations have the "
                "quantities of symflow::conserved<I>, whose one-step change is gd_step_change");
  if constexpr (is_junction<Net, I>) {
    using Activation = typename junction<Net, I>::Activation;
    static_assert(ScalingEquivariantActivation<Activation>,
                  "symflow::outgoing_minus_incoming_trace_gd_change<I>: the junction's activation has no scaling "
                  "symmetry, so Tr[UᵀU − VVᵀ] is not conserved by gradient flow and eq. (41) is not its change; "
                  "take the difference of the quantity at the two points");
    if constexpr (ScalingEquivariantActivation<Activation>) {
      const double alpha = homogeneity_degree(junction<Net, I>::activation(net));
      if (alpha != 1.0)
        throw std::invalid_argument("symflow::outgoing_minus_incoming_trace_gd_change: the activation of junction " +
                                    std::to_string(I) + " is homogeneous of degree " + std::to_string(alpha) +
                                    ", not 1: Tr[UᵀU − VVᵀ] is not conserved there (α‖U‖² − ‖V‖² is)");
      return detail::outgoing_minus_incoming_change<I>(net, gradient, learning_rate);
    }
  }
  return typename Net::Scalar(0);
}

/// The former name of outgoing_minus_incoming_trace_gd_change (same value; the name did not say
/// the sign, opposite to LayerImbalanceTrace's, nor the scale, twice the paper's ½Tr of eq. 45).
template <MlpModel Model, class DG>
[[deprecated("use symflow::outgoing_minus_incoming_trace_gd_change (same value), or gd_step_change with the quantity")]]
typename Model::Scalar linear_trace_gd_change(const Model& model, const Eigen::MatrixBase<DG>& gradient,
                                              double learning_rate) {
  return outgoing_minus_incoming_trace_gd_change(model, gradient, learning_rate);
}

/// Eq. (35): |ΔQ| ≤ η² |dL/dt| = η² ‖∇L‖² for Q = Tr[UᵀU − VVᵀ] (either sign: it bounds the change
/// of LayerImbalanceTrace too) along θ̇ = −∇L; half of it bounds the paper's ½Tr of eq. (45).
template <class DG>
typename DG::Scalar linear_trace_gd_bound(const Eigen::MatrixBase<DG>& gradient, double learning_rate) {
  return typename DG::Scalar(learning_rate * learning_rate) * gradient.squaredNorm();
}

/// A scalar quantity written as outgoing − incoming, Q = f₁ − f₂ (eq. 48 summed, Prop. 14 summed),
/// as the normalisation of Appendix D needs.
template <class Q>
concept TwoPartQuantity = requires(const Q& q, const typename Q::Params& p) {
  typename Q::Scalar;
  typename Q::Params;
  { q.outgoing(p) } -> std::convertible_to<typename Q::Scalar>;
  { q.incoming(p) } -> std::convertible_to<typename Q::Scalar>;
};

/// The normalised drift of Appendix D (eq. 43): with f₁ = ½Tr[UᵀU], f₂ = Σ∫_0^{V_kj} σ/σ′,
///     Q̃(θ) = |f₁(θ) − f₂(θ)| / (f₁(θ₀) + |f₂(θ₀)|),   ΔQ̃(t) = Q̃(θ_t) − Q̃(θ₀).
/// Also the signed version (Q(θ_t) − Q(θ₀))/(f₁(θ₀) + |f₂(θ₀)|), which does not fold a change of
/// sign of Q. Both depend on the lower limit of ∫σ/σ′ (here 0, as in eq. 48).
///
/// Sign: Q = f₁ − f₂ is outgoing minus incoming, as eq. (48) prints it. f₁ − f₂ is formed in
/// accumulator_t<Scalar> (double for float), in which the quantity returns its two parts: the
/// difference of two nearly equal sums keeps its digits.
///
/// As an observer (run(…, drift)) it follows a run from its first point: `last()` is ΔQ̃ at the
/// latest point and `largest()` the largest |ΔQ̃| seen. As a Trace column, trace.add("dQ",
/// drift.column()) records ΔQ̃ relative to the θ₀ given at construction.
template <TwoPartQuantity Q>
class NormalisedDrift {
 public:
  using Scalar = typename Q::Scalar;
  using Params = typename Q::Params;

  /// Normalised against θ₀; an observer re-bases on the first point of every run it sees.
  NormalisedDrift(Q q, const Params& theta0) : q_(std::move(q)) { rebase(theta0); }
  explicit NormalisedDrift(Q q) : q_(std::move(q)) {}

  /// Sets θ₀: f₁(θ₀), f₂(θ₀) and Q̃(θ₀).
  void rebase(const Params& theta0) {
    const Accumulator f1 = q_.outgoing(theta0), f2 = q_.incoming(theta0);
    using std::abs;
    scale_ = f1 + abs(f2);
    q0_ = f1 - f2;
    based_ = true;
    last_ = Scalar(0);
    largest_ = Scalar(0);
  }

  /// Q̃(θ) = |f₁ − f₂| / (f₁(θ₀) + |f₂(θ₀)|).
  Scalar normalised(const Params& p) const { return static_cast<Scalar>(normalised_accurate(p)); }
  /// ΔQ̃ = Q̃(θ) − Q̃(θ₀), eq. (43).
  Scalar drift(const Params& p) const {
    using std::abs;
    return static_cast<Scalar>(normalised_accurate(p) - abs(q0_) / scale_);
  }
  /// (Q(θ) − Q(θ₀)) / (f₁(θ₀) + |f₂(θ₀)|).
  Scalar signed_drift(const Params& p) const {
    return static_cast<Scalar>((difference(p) - q0_) / scale_);
  }

  /// Observer: re-bases at step 0 of a run (or on first use), then tracks ΔQ̃.
  void operator()(const Snapshot<Params>& s) {
    if (!based_ || s.step == 0) rebase(s.theta);
    last_ = drift(s.theta);
    using std::abs;
    if (abs(last_) > largest_) largest_ = abs(last_);
  }
  /// ΔQ̃ at the latest observed point.
  Scalar last() const { return last_; }
  /// The largest |ΔQ̃| observed.
  Scalar largest() const { return largest_; }
  /// f₁(θ₀) + |f₂(θ₀)|.
  Scalar scale() const { return static_cast<Scalar>(scale_); }

  /// A Trace column f(θ) = ΔQ̃(θ) relative to the current θ₀.
  auto column() const {
    return [self = *this](const Params& p) { return self.drift(p); };
  }

 private:
  using Accumulator = accumulator_t<Scalar>;
  /// f₁ − f₂ in the accumulator type.
  Accumulator difference(const Params& p) const {
    return static_cast<Accumulator>(q_.outgoing(p)) - static_cast<Accumulator>(q_.incoming(p));
  }
  Accumulator normalised_accurate(const Params& p) const {
    using std::abs;
    return abs(difference(p)) / scale_;
  }

  Q q_;
  Accumulator scale_{1};
  Accumulator q0_{0};
  bool based_ = false;
  Scalar last_{0};
  Scalar largest_{0};
};

/// K_t = ½ DQ(θ_t)[θ_t − θ_{t−1}] = B(θ_t, v_t): the discrete Noether charge of heavy ball for a
/// quadratic quantity (see the file comment for the identities it satisfies).
template <QuadraticQuantity Q, class DP, class DQ>
typename Q::Value momentum_charge(const Q& q, const Eigen::MatrixBase<DP>& theta, const Eigen::MatrixBase<DQ>& previous) {
  using Scalar = typename Q::Scalar;
  detail::require_length("previous θ", theta.size(), previous.size());
  const auto p = detail::convert_checked<typename Q::Params>("θ", theta);
  const typename Q::Params v = p - previous;
  return typename Q::Value(Scalar(0.5) * directional_derivative(q, p, v));
}

/// K_t = ⟨M̄θ_t, θ_t − θ_{t−1}⟩ for a linear action and M in its algebra; for antisymmetric M (O(h))
/// heavy ball multiplies it by β at every step.
template <class Action, class DP, class DQ>
typename Action::Scalar generator_charge(const Action& action, const typename Action::Algebra& m,
                                         const Eigen::MatrixBase<DP>& theta, const Eigen::MatrixBase<DQ>& previous) {
  detail::require_length("previous θ", theta.size(), previous.size());
  const auto p = detail::convert_checked<typename Action::Params>("θ", theta);
  const typename Action::Params v = p - previous;
  return action.generator(m, p).dot(v);
}

/// (1 + β)/(1 − β): to leading order in η, how many times more a quadratic Q drifts under heavy ball
/// (momentum β) than under gradient descent at the same effective learning rate η/(1 − β), over the
/// same stretch of trajectory once the velocity has settled.
inline double heavy_ball_drift_factor(double beta) { return (1.0 + beta) / (1.0 - beta); }

}  // namespace symflow
