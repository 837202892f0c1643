// SPDX-License-Identifier: MIT
#pragma once
/// \file Teleporting to the steepest, the flattest or the sharpest point of an orbit: ascent or
/// descent over the group, g ← exp(t M) g with M the gradient over the Lie algebra
/// (symflow/teleport/orbit_gradient.hpp), every accepted point on the same level set of L.
///
///  - teleport_to_steepest maximises ‖∇L(g·θ)‖² (symmetry teleportation, Zhao et al. NeurIPS 2022):
///    d/dt ‖∇L(exp(tM)θ)‖² = 2⟨H∇L, M̄θ⟩, one exact Hessian-vector product per step. Any action
///    (linear, products, the pseudoinverse action on a batch with k = h, junctions of layered models).
///  - teleport_to_flattest / teleport_to_sharpest minimise / maximise the top Hessian eigenvalue
///    (Lanczos) or the Hessian trace (Hutchinson, fixed probes) over the orbit of a linear action,
///    whose Hessian transforms by congruence, H(g·θ) = T_g⁻ᵀ H(θ) T_g⁻¹ (differentiate L∘T_g = L
///    twice); hence d/dt λ_max = −2λ⟨u, M̄u⟩ and d/dt Tr H = −2 E_z⟨Hz, M̄z⟩ (Zhao, Gower, Walters,
///    Yu, ICLR 2024, teleport to change curvature).
///
/// Step control: a step of length t in the algebra (‖tM‖ = t) is accepted when it improves the
/// objective by the Armijo fraction and leaves the loss within `loss_tolerance` (relative) of its
/// value at the start, and, for objectives that expose model() and inputs(), the outputs on those
/// inputs too (‖F(g·θ) − F(θ)‖ ≤ loss_tolerance·‖F(θ)‖: the nonlinear pseudoinverse action keeps
/// them only to the conditioning of σ(gZ), which the loss alone can hide); otherwise t is halved. After an accepted step t doubles, up to max_step.
/// The search ends at a stationary point (‖c‖ ≤ gradient_tolerance·|f|: reached), when t falls below
/// min_step (stalled) or after max_iterations accepted steps (budget). ‖∇L‖² and λ_max are
/// unbounded on non-compact groups (GL_h, scaling), so the budget is the usual end of an ascent.

#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/init/chosen_quantity.hpp"
#include "symflow/teleport/orbit_gradient.hpp"
#include "symflow/teleport/report.hpp"
#include "symflow/teleport/spectrum.hpp"

namespace symflow {

/// An objective with value, gradient and exact Hessian-vector products (symflow::Objective).
template <class O>
concept HessianObjective = requires(const O& o, const typename O::Params& p) {
  typename O::Scalar;
  typename O::Params;
  { o.value(p) } -> std::convertible_to<typename O::Scalar>;
  { o.gradient(p) } -> std::convertible_to<typename O::Params>;
  { o.hessian_vector_product(p, p) } -> std::convertible_to<typename O::Params>;
};

/// Options of the searches over an orbit.
struct OrbitSearchOptions {
  /// Accepted steps at most.
  int max_iterations = 100;
  /// Length ‖tM‖ of the first trial step in the algebra, and the largest.
  double initial_step = 0.1;
  double max_step = 1.0;
  /// Below this step length the search stops (stalled).
  double min_step = 1e-12;
  /// Largest accepted |L(g·θ) − L(θ)| / |L(θ)| (and relative change of the outputs on the
  /// objective's inputs, where it has them); negative: max(1e-10, 64 ε) of the scalar.
  double loss_tolerance = -1;
  /// Stationary when ‖c‖ ≤ gradient_tolerance · |f| (c the gradient over the algebra, per unit
  /// length in the algebra): f is then within about gradient_tolerance² of its stationary value.
  double gradient_tolerance = 1e-7;
  /// Total length Σ‖t M‖ of the path in the algebra at most (bounds how far an unbounded ascent goes).
  double max_distance = std::numeric_limits<double>::infinity();
  /// Armijo fraction of the predicted change that a step must achieve.
  double armijo = 1e-4;
};

/// What the flattest and sharpest teleports measure.
enum class Curvature { top_eigenvalue, trace };

/// Options of the curvature teleports: the search, Lanczos and Hutchinson.
struct CurvatureOptions {
  Curvature measure = Curvature::top_eigenvalue;
  OrbitSearchOptions search{};
  LanczosOptions lanczos{};
  /// Hutchinson probes for the trace; at least d gives the exact trace.
  Index probes = 32;
  /// Seed of the probes (drawn once per teleport).
  std::uint64_t seed = 1;
};

namespace detail {

template <class Scalar>
struct OrbitPoint {
  double value = 0;
  Vector<Scalar> gradient;
};

/// orbit_search evaluates a trial point without the gradient over the algebra and, when it accepts
/// the step, once more with it, at the same point. What both evaluations compute (∇L, the top
/// eigenpair, the probes' Hessian products) is kept from the first for the second: a value-only
/// call stores its work, and the next call takes it when it is at the same θ (and empties it), so
/// the second call uses exactly what it would have recomputed.
template <class Params, class Work>
class LastPointWork {
 public:
  template <class Compute>
  Work take(const Params& p, bool keep, const Compute& compute) {
    std::optional<Work> cached = std::exchange(work_, std::nullopt);
    Work w = cached && at_.size() == p.size() && at_ == p ? std::move(*cached) : compute();
    if (keep) {
      at_ = p;
      work_ = w;
    }
    return w;
  }

 private:
  Params at_;
  std::optional<Work> work_;
};

template <class Scalar>
double loss_tolerance(const OrbitSearchOptions& o) {
  return o.loss_tolerance >= 0 ? o.loss_tolerance
                               : std::max(1e-10, 64.0 * static_cast<double>(std::numeric_limits<Scalar>::epsilon()));
}

/// The pseudoinverse action keeps the loss only for k = h; the others have no samples() member.
template <class Action>
std::string action_domain_problem(const Action& action) {
  if constexpr (requires { action.samples(); action.hidden(); }) {
    if (action.samples() != action.hidden())
      return "symflow: the pseudoinverse action keeps the loss on its batch and composes only for k = h samples; this "
             "one has k = " + std::to_string(action.samples()) + " and h = " + std::to_string(action.hidden());
  }
  return {};
}

/// The model's outputs on the objective's inputs, for objectives that expose both (empty otherwise).
template <class Objective, class Params>
auto outputs_on_inputs(const Objective& objective, const Params& theta) {
  if constexpr (requires { objective.model().forward(theta, objective.inputs()); }) {
    return Eigen::Matrix<typename Params::Scalar, Dynamic, Dynamic>(objective.model().forward(theta, objective.inputs()));
  } else {
    return Eigen::Matrix<typename Params::Scalar, Dynamic, Dynamic>();
  }
}

/// Ascent (direction +1) or descent (−1) of eval over the orbit of θ.
template <class Objective, class Action, class Eval>
Teleported<Action> orbit_search(const Objective& objective, const Action& action, const typename Action::Params& theta,
                                Eval&& eval, int direction, const OrbitSearchOptions& options) {
  using Scalar = typename Action::Scalar;
  using Params = typename Action::Params;
  Teleported<Action> out{theta, action.identity(), {}};
  auto& report = out.report;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  report.loss_before = report.loss_after = report.objective_before = report.objective_after = nan;
  if (!theta.allFinite()) {
    report.status = TeleportStatus::invalid_input;
    report.reason = "symflow: θ has a non-finite entry; it is left unchanged";
    return out;
  }
  if (const std::string problem = action_domain_problem(action); !problem.empty()) {
    report.status = TeleportStatus::invalid_input;
    report.reason = problem;
    return out;
  }
  const double l0 = static_cast<double>(objective.value(theta));
  report.loss_before = report.loss_after = l0;
  // Relative to |L(θ)|; at an exact zero of the loss, relative to ε (rounding of a zero residual).
  const double loss_tol =
      loss_tolerance<Scalar>(options) * std::max(std::abs(l0), static_cast<double>(std::numeric_limits<Scalar>::epsilon()));
  const auto f0 = outputs_on_inputs(objective, theta);
  const double output_tol = loss_tolerance<Scalar>(options) *
                            std::max(static_cast<double>(f0.norm()), static_cast<double>(std::numeric_limits<Scalar>::epsilon()));
  const auto outputs_kept = [&](const Params& p) {
    return f0.size() == 0 || static_cast<double>((outputs_on_inputs(objective, p) - f0).norm()) <= output_tol;
  };
  OrbitPoint<Scalar> point;
  try {
    point = eval(theta, true);
  } catch (const std::exception& e) {
    report.status = TeleportStatus::invalid_input;
    report.reason = e.what();
    return out;
  }
  if (!std::isfinite(point.value) || !point.gradient.allFinite()) {
    report.status = TeleportStatus::invalid_input;
    report.reason = "symflow: the objective or its gradient over the algebra is not finite at θ (loss " + format_number(l0) + ")";
    return out;
  }
  report.objective_before = report.objective_after = point.value;
  report.history.push_back(point.value);
  Params current = theta;
  typename Action::Group g = action.identity();
  double t = options.initial_step;
  double distance = 0;
  report.status = TeleportStatus::budget;
  while (report.iterations < options.max_iterations && distance < options.max_distance - options.min_step) {
    const double norm = static_cast<double>(point.gradient.norm());
    if (norm <= options.gradient_tolerance * std::abs(point.value)) {
      report.status = TeleportStatus::reached;
      break;
    }
    if (t < options.min_step) {
      report.status = TeleportStatus::stalled;
      report.reason = "symflow: no step longer than " + format_number(options.min_step) +
                      " along the orbit improved the objective with the loss unchanged to " + format_number(loss_tol) +
                      (f0.size() ? " and the outputs to " + format_number(output_tol) : std::string()) +
                      " (gradient over the algebra " + format_number(norm) + ")";
      break;
    }
    t = std::min(t, options.max_distance - distance);
    const Vector<Scalar> c = (static_cast<Scalar>(direction * t / norm)) * point.gradient;
    bool accepted = false;
    try {
      const auto h = action.exp(algebra_element(action, c));
      Params trial = action.act(h, current);
      const double lt = static_cast<double>(objective.value(trial));
      if (trial.allFinite() && std::abs(lt - l0) <= loss_tol && outputs_kept(trial)) {
        const double ft = eval(trial, false).value;
        if (std::isfinite(ft) && direction * (ft - point.value) >= options.armijo * t * norm) {
          OrbitPoint<Scalar> next = eval(trial, true);
          if (next.gradient.allFinite()) {
            current = std::move(trial);
            g = action.compose(h, g);
            point = std::move(next);
            report.loss_after = lt;
            accepted = true;
          }
        }
      }
    } catch (const std::exception&) {
      accepted = false;  // e.g. σ(gZ) singular for the pseudoinverse action: a shorter step
    }
    if (accepted) {
      ++report.iterations;
      report.history.push_back(point.value);
      distance += t;
      t = std::min(2 * t, options.max_step);
    } else {
      t /= 2;
    }
  }
  if (report.status == TeleportStatus::budget)
    report.reason = "symflow: " + std::to_string(report.iterations) + " steps over a distance " + format_number(distance) +
                    " along the orbit taken, the budget (the objective may be unbounded on it)";
  out.theta = current;
  out.g = g;
  report.objective_after = point.value;
  return out;
}

}  // namespace detail

/// g·θ where ‖∇L‖² is (locally) largest on the orbit of θ, found by ascent over the group; the loss
/// stays within options.loss_tolerance of L(θ). objective_before/after hold ‖∇L‖².
template <HessianObjective Objective, OrbitAction Action>
Teleported<Action> teleport_to_steepest(const Objective& objective, const Action& action,
                                        const typename Action::Params& theta, const OrbitSearchOptions& options = {}) {
  using Scalar = typename Action::Scalar;
  using Params = typename Action::Params;
  detail::LastPointWork<Params, Params> gradients;
  auto eval = [&](const Params& p, bool with_gradient) {
    detail::OrbitPoint<Scalar> pt;
    const Params grad = gradients.take(p, !with_gradient, [&] { return Params(objective.gradient(p)); });
    pt.value = static_cast<double>(grad.squaredNorm());
    if (with_gradient) pt.gradient = algebra_gradient(action, p, Params(Scalar(2) * objective.hessian_vector_product(p, grad)));
    return pt;
  };
  return detail::orbit_search(objective, action, theta, eval, +1, options);
}

namespace detail {

template <class Objective, class Action>
Teleported<Action> curvature_search(const Objective& objective, const Action& action, const typename Action::Params& theta,
                                    const CurvatureOptions& options, int direction) {
  static_assert(LinearOrbitAction<Action>,
                "symflow::teleport_to_flattest/sharpest: the Hessian transforms by congruence only under a linear "
                "action (GeneralLinearAction, ScalingAction, OrthogonalAction or their product); the pseudoinverse "
                "action is nonlinear in θ");
  using Scalar = typename Action::Scalar;
  using Params = typename Action::Params;
  const Index d = theta.size();
  Params warm = Params::Zero(d);
  std::mt19937_64 rng(options.seed);
  const TraceProbes<Params> probes = trace_probes<Params>(d, options.probes, rng);
  // `warm` changes only in calls with the gradient, which empty these: a kept eigenpair is the one
  // the same call would compute again.
  LastPointWork<Params, EigenPair<Params>> tops;
  LastPointWork<Params, std::vector<Params>> products;
  auto eval = [&](const Params& p, bool with_gradient) {
    OrbitPoint<Scalar> pt;
    auto hv = [&](const Params& v) { return Params(objective.hessian_vector_product(p, v)); };
    if (options.measure == Curvature::top_eigenvalue) {
      const EigenPair<Params> top = tops.take(p, !with_gradient, [&] { return top_eigenpair(hv, warm, options.lanczos); });
      pt.value = static_cast<double>(top.value);
      if (with_gradient) {
        warm = top.vector;
        pt.gradient = (Scalar(-2) * top.value) * algebra_gradient(action, top.vector, top.vector);
      }
    } else {
      const std::vector<Params> hz = products.take(p, !with_gradient, [&] {
        std::vector<Params> out;
        for (const auto& z : probes.z) out.push_back(hv(z));
        return out;
      });
      Scalar sum(0);
      for (std::size_t i = 0; i < hz.size(); ++i) sum += probes.z[i].dot(hz[i]);
      const Scalar scale = probes.exact ? Scalar(1) : Scalar(1) / static_cast<Scalar>(probes.z.size());
      pt.value = static_cast<double>(scale * sum);
      if (with_gradient) pt.gradient = (Scalar(-2) * scale) * algebra_gradient_sum(action, probes.z, hz);
    }
    return pt;
  };
  return orbit_search(objective, action, theta, eval, direction, options.search);
}

}  // namespace detail

/// g·θ where the top Hessian eigenvalue (or the trace) is smallest on the orbit of a linear action:
/// the flattest point of the valley, the function unchanged. objective_before/after hold λ_max or Tr H.
template <HessianObjective Objective, OrbitAction Action>
Teleported<Action> teleport_to_flattest(const Objective& objective, const Action& action,
                                        const typename Action::Params& theta, const CurvatureOptions& options = {}) {
  return detail::curvature_search(objective, action, theta, options, -1);
}

/// The opposite search: the sharpest point reachable within the budget (curvature is unbounded
/// above on non-compact orbits, so this ends on the budget).
template <HessianObjective Objective, OrbitAction Action>
Teleported<Action> teleport_to_sharpest(const Objective& objective, const Action& action,
                                        const typename Action::Params& theta, const CurvatureOptions& options = {}) {
  return detail::curvature_search(objective, action, theta, options, +1);
}

}  // namespace symflow
