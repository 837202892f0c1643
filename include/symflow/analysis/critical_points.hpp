// SPDX-License-Identifier: MIT
#pragma once
/// \file Linear symmetries send critical points to critical points (§B.6). For a linear action
/// θ ↦ T_g θ leaving L invariant, differentiating L(T_g θ) = L(θ) gives Prop. 10 (eq. 19):
///
///   T_gᵀ ∇L(g·θ) = ∇L(θ),   i.e.   ∇L(g·θ) = T_g⁻ᵀ ∇L(θ) = T_{(g⁻¹)ᵀ} ∇L(θ),
///
/// using that the adjoint of T_g is T_{gᵀ} for the actions here (π(gᵀ) = π(g)ᵀ). So ∇L(θ*) = 0
/// implies ∇L(g·θ*) = 0 (Cor. 11), and the whole orbit G·θ* lies in the critical locus.

#include <cmath>

#include "symflow/core/config.hpp"

namespace symflow {

/// ∇L(g·θ) predicted from ∇L(θ) by the gradient transformation law: (g⁻¹)ᵀ acting on ∇L(θ). For
/// linear actions with a transpose (every linear action in symflow/group).
template <class Action>
typename Action::Params transform_gradient(const Action& action, const typename Action::Group& g,
                                           const typename Action::Params& gradient) {
  return action.act(action.transpose(action.inverse(g)), gradient);
}

/// g·θ with the gradient norms at θ and at g·θ.
template <class Params>
struct CriticalPointImage {
  Params params;
  double source_gradient_norm = 0;
  double gradient_norm = 0;
  /// The bound Prop. 10 gives: ‖∇L(g·θ)‖ ≤ ‖T_g⁻ᵀ‖ ‖∇L(θ)‖; the measured ratio ‖∇L(g·θ)‖/‖∇L(θ)‖.
  double ratio() const { return source_gradient_norm > 0 ? gradient_norm / source_gradient_norm : 0.0; }
};

/// Moves θ along its orbit and reports the gradient norms before and after (Cor. 11: a critical point
/// stays critical). `objective` provides gradient(θ).
template <class Objective, class Action>
CriticalPointImage<typename Action::Params> map_critical_point(const Objective& objective, const Action& action,
                                                               const typename Action::Group& g,
                                                               const typename Action::Params& theta) {
  CriticalPointImage<typename Action::Params> out{action.act(g, theta)};
  out.source_gradient_norm = static_cast<double>(objective.gradient(theta).norm());
  out.gradient_norm = static_cast<double>(objective.gradient(out.params).norm());
  return out;
}

}  // namespace symflow
