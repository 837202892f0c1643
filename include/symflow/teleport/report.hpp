// SPDX-License-Identifier: MIT
#pragma once
/// \file What a teleport returns: the new θ, the group element that took θ there, and a report
/// (loss before and after, the objective the teleport moved, whether the target was reached, the
/// iterations and, when it was not reached, why).
///
/// Teleports never throw on numerical trouble or on an unreachable target: they return θ unchanged,
/// the identity, and a status naming the reason. Wrong shapes still throw, as elsewhere in symflow.

#include <string>
#include <vector>

#include "symflow/core/config.hpp"

namespace symflow {

/// How a teleport ended.
enum class TeleportStatus {
  reached,         ///< the target was reached to the stated tolerance (or a stationary point, for ascent/descent)
  budget,          ///< the iteration budget ran out first; θ is the best point found, on the same orbit
  stalled,         ///< no step along the orbit improved the objective while keeping the loss unchanged
  unreachable,     ///< the target is not on this orbit (the reason names the unit or matrix and why)
  invalid_input,   ///< θ or the target is not finite, or the action failed (e.g. a singular σ(gZ))
};

inline const char* to_string(TeleportStatus s) {
  switch (s) {
    case TeleportStatus::reached: return "reached";
    case TeleportStatus::budget: return "iteration budget exhausted";
    case TeleportStatus::stalled: return "stalled";
    case TeleportStatus::unreachable: return "unreachable";
    case TeleportStatus::invalid_input: return "invalid input";
  }
  return "unknown";
}

/// What happened during a teleport.
struct TeleportReport {
  TeleportStatus status = TeleportStatus::reached;
  /// Empty when reached; otherwise a sentence naming the values seen.
  std::string reason;
  /// L(θ) before and L(g·θ) after (NaN when the teleport needs no objective).
  double loss_before = 0, loss_after = 0;
  /// The quantity the teleport moved: ‖Q − target‖, ‖∇L‖², λ_max(H) or Tr H, before and after.
  double objective_before = 0, objective_after = 0;
  /// Iterations (Newton steps, Gauss–Seidel sweeps, accepted ascent or descent steps).
  Index iterations = 0;
  /// The objective after each iteration (Newton residuals show quadratic convergence).
  std::vector<double> history;

  bool reached() const { return status == TeleportStatus::reached; }
  /// |L(g·θ) − L(θ)| / |L(θ)|: zero up to rounding, by invariance.
  double relative_loss_change() const {
    const double d = loss_after - loss_before;
    const double s = loss_before < 0 ? -loss_before : loss_before;
    return (d < 0 ? -d : d) / (s > 0 ? s : 1.0);
  }
};

/// A teleported point: θ' = g·θ with the element g and the report.
template <class Action>
struct Teleported {
  typename Action::Params theta;
  typename Action::Group g;
  TeleportReport report;
  bool reached() const { return report.reached(); }
};

}  // namespace symflow
