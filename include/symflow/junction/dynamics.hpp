// SPDX-License-Identifier: MIT
#pragma once
/// \file Exact discrete dynamics of the junction quantities under gradient descent, weight decay and
/// heavy-ball momentum, all as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
///
///   v_{t+1} = μ v_t + ∇L(θ_t) + λ θ_t,   θ_{t+1} = θ_t − η v_{t+1},   v_0 = 0
///
/// (μ = 0: gradient descent, with weight decay λ; λ = 0: plain heavy ball).
///
/// Quadratic quantities Q(θ) = B(θ, θ) with B(θ, ∇L(θ)) = 0 at every θ (symflow/junction/
/// quantities.hpp). Write a_t = Q(θ_t) and P_t = B(θ_t, v_t) (P_0 = 0). Then B(θ_t, v_{t+1}) =
/// μ P_t + λ a_t =: q_t, and expanding θ_{t+1} = θ_t − η v_{t+1}:
///
///   a_{t+1} = a_t − η (q_t + q_tᵀ) + η² B(v_{t+1}, v_{t+1}),
///   P_{t+1} = q_t − η B(v_{t+1}, v_{t+1})
///
/// (q + qᵀ is 2q for scalar and vector quantities). Special cases: GD, a_{t+1} = a_t + η² B(∇L, ∇L)
/// (e.g. ‖w_{t+1}‖² = ‖w_t‖² + η²‖∇_w L‖² for a scale-invariant w); GD with weight decay,
/// a_{t+1} = (1 − ηλ)² a_t + η² B(∇L, ∇L). Only B(v, v) of each step's velocity enters; the terms
/// linear in ∇L vanish exactly.
///
/// Linear quantities ℓ(θ) = Aθ with A∇L = 0. With u_t = A v_t (u_0 = 0):
///
///   u_{t+1} = μ u_t + λ ℓ_t,   ℓ_{t+1} = ℓ_t − η u_{t+1},
///
/// a closed linear recursion: ℓ is constant under GD and heavy ball, and with weight decay decays
/// by the known factors (for μ = 0, ℓ_t = (1 − ηλ)^t ℓ_0) whatever the data.

#include <string>
#include <utility>

#include "symflow/core/config.hpp"

namespace symflow {

/// torch.optim.SGD(lr = η, momentum = μ, weight_decay = λ): v ← μv + ∇L + λθ, θ ← θ − ηv.
struct HeavyBall {
  double learning_rate = 1e-2;
  double momentum = 0.0;
  double weight_decay = 0.0;

  /// One step in place, given ∇L(θ_t); `velocity` holds v_t before and v_{t+1} after.
  template <class Params>
  void step(Params& theta, Params& velocity, const Params& gradient) const {
    using S = typename Params::Scalar;
    velocity = S(momentum) * velocity + gradient + S(weight_decay) * theta;
    theta -= S(learning_rate) * velocity;
  }
};

/// Predicts a junction quantity along a HeavyBall run, step by step, from its value at θ_0 and the
/// velocities alone (see the file comment).
template <class Quantity>
class QuantityDynamics {
 public:
  using Scalar = typename Quantity::Scalar;
  using Params = typename Quantity::Params;
  using Value = typename Quantity::Value;

  /// Starts at θ_0 with v_0 = 0.
  QuantityDynamics(Quantity quantity, HeavyBall optimiser, const Params& theta0)
      : quantity_(std::move(quantity)), optimiser_(optimiser), predicted_(quantity_.value(theta0)) {
    auxiliary_ = Value::Zero(predicted_.rows(), predicted_.cols());
  }

  /// Advances by one step whose new velocity is v_{t+1} (read only through B(v, v); linear
  /// quantities do not need it at all).
  void advance(const Params& velocity) {
    const Scalar eta(optimiser_.learning_rate), mu(optimiser_.momentum), lambda(optimiser_.weight_decay);
    if constexpr (Quantity::is_linear) {
      auxiliary_ = mu * auxiliary_ + lambda * predicted_;
      predicted_ -= eta * auxiliary_;
    } else {
      const Value q = mu * auxiliary_ + lambda * predicted_;
      const Value kinetic = quantity_.form(velocity, velocity);
      if constexpr (Value::ColsAtCompileTime == 1) predicted_ += -Scalar(2) * eta * q + eta * eta * kinetic;
      else predicted_ += -eta * (q + q.transpose()) + eta * eta * kinetic;
      auxiliary_ = q - eta * kinetic;
    }
  }

  /// The predicted Q(θ_t).
  const Value& predicted() const { return predicted_; }
  /// P_t = B(θ_t, v_t) (quadratic) or u_t = A v_t (linear).
  const Value& auxiliary() const { return auxiliary_; }
  const Quantity& quantity() const { return quantity_; }

 private:
  Quantity quantity_;
  HeavyBall optimiser_;
  Value predicted_;
  Value auxiliary_;
};

}  // namespace symflow
