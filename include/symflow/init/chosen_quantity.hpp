// SPDX-License-Identifier: MIT
#pragma once
/// \file Initialisation at a chosen value of a conserved quantity (Appendix F): from any θ, new
/// parameters whose Q equals a target exactly (to rounding), keeping a stated property of θ.
///
/// What each function keeps:
///  - Preserve::function — the network function F_θ(X) for every input X, hence the loss for any
///    data and loss. Done by the symmetry itself: g = c·I on a linear layer, g = diag(c) on a
///    positively homogeneous layer (W_i ↦ g W_i, b_i ↦ g b_i, W_{i+1} ↦ W_{i+1} g^{−α}). Along the
///    orbit Q(c) = A c² − B c^{−2α} runs monotonically over all of R when A, B > 0.
///  - Preserve::norm — ‖θ‖ restricted to the two layers, and the direction of each layer: W_i (with
///    b_i) and W_{i+1} are rescaled by two factors; changes the function.
///  - Preserve::features — the first layer W_1, hence the hidden features σ(W_1 X) for every X, and
///    the direction of W_2, which alone is rescaled; changes the function.
/// A target outside the reachable range throws std::invalid_argument naming the range.

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "symflow/conserved/elementwise_quantity.hpp"
#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/scaling_imbalance.hpp"

namespace symflow {

/// What an initialisation at a chosen quantity keeps from the parameters it starts from.
enum class Preserve { function, norm, features };

namespace detail {

inline std::string format_number(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

[[noreturn]] inline void unreachable_target(const std::string& what, double target, const std::string& range) {
  throw std::invalid_argument("symflow: cannot reach " + what + " = " + format_number(target) + ": " + range);
}

/// The root of an increasing function f on R, to full double precision: brackets by doubling
/// steps from 0, then the Illinois variant of regula falsi with a bisection safeguard.
template <class F>
double increasing_root(const F& f) {
  double lo = 0.0, hi = 0.0;
  double flo = f(lo), fhi = flo;
  if (flo == 0.0) return 0.0;
  double step = 1.0;
  if (flo < 0) {
    while (fhi < 0) {
      lo = hi;
      flo = fhi;
      hi += step;
      step *= 2;
      fhi = f(hi);
      if (step > 1e6) throw std::runtime_error("symflow: root bracketing failed");
    }
  } else {
    while (flo > 0) {
      hi = lo;
      fhi = flo;
      lo -= step;
      step *= 2;
      flo = f(lo);
      if (step > 1e6) throw std::runtime_error("symflow: root bracketing failed");
    }
  }
  int side = 0;
  for (int it = 0; it < 400 && hi - lo > 4 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(lo)); ++it) {
    double x = (lo * fhi - hi * flo) / (fhi - flo);
    if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
    if (it % 8 == 7) x = 0.5 * (lo + hi);  // guaranteed halving now and then
    const double fx = f(x);
    if (fx == 0.0) return x;
    if (fx < 0) {
      lo = x;
      flo = fx;
      if (side == -1) fhi /= 2;
      side = -1;
    } else {
      hi = x;
      fhi = fx;
      if (side == 1) flo /= 2;
      side = 1;
    }
  }
  return std::abs(flo) < std::abs(fhi) ? lo : hi;
}

/// The c > 0 with a c^p − b c^{−q} = target (a, b ≥ 0, p, q > 0), which is increasing in c.
/// Throws if the target lies outside the range: (−∞, ∞) when a, b > 0, (−∞, 0) when a = 0,
/// (0, ∞) when b = 0.
inline double solve_power_balance(double a, double p, double b, double q, double target, const std::string& what) {
  if (a == 0.0 && b == 0.0) {
    if (target == 0.0) return 1.0;
    unreachable_target(what, target, "both layers are zero, so it is 0 along the whole orbit");
  }
  if (a == 0.0 && !(target < 0.0))
    unreachable_target(what, target, "the incoming weights are zero, so only negative values are reachable");
  if (b == 0.0 && !(target > 0.0))
    unreachable_target(what, target, "the outgoing weights are zero, so only positive values are reachable");
  if (p == 2.0 && q == 2.0) {
    // a y − b/y = T with y = c²: the positive root of a y² − T y − b, written without cancellation.
    const double disc = std::sqrt(target * target + 4 * a * b);
    const double y = target >= 0 ? (target + disc) / (2 * a) : (2 * b) / (disc - target);
    return std::sqrt(y);
  }
  // Increasing in s = log c; scale by |target| + a + b to keep the function of order one.
  const double scale = std::abs(target) + a + b;
  const double s = increasing_root([&](double t) { return (a * std::exp(p * t) - b * std::exp(-q * t) - target) / scale; });
  return std::exp(s);
}

}  // namespace detail

/// θ with Tr Q_i (LayerImbalanceTrace, hidden layer `Layer` of a linear MLP) equal to `target`.
/// Preserve::function rescales by g = c·I (c² solves A c² − B/c² = target, A = ‖W_i‖² + ‖b_i‖²,
/// B = ‖W_{i+1}‖²); Preserve::norm keeps A + B and the direction of each layer (reachable:
/// |target| ≤ A + B).
template <int Layer = 1, MlpModel Model, class D>
typename Model::Params with_layer_imbalance_trace(const Model& model, const Eigen::MatrixBase<D>& theta,
                                                  double target, Preserve preserve = Preserve::function) {
  detail::check_linear_hidden_layer<Model, Layer>();
  using Scalar = typename Model::Scalar;
  auto p = detail::convert_checked<typename Model::Params>("θ", theta);
  auto w_in = model.template weight<Layer>(p);
  auto w_out = model.template weight<Layer + 1>(p);
  double a = static_cast<double>(w_in.squaredNorm());
  if constexpr (Model::has_bias) a += static_cast<double>(model.template bias<Layer>(p).squaredNorm());
  const double b = static_cast<double>(w_out.squaredNorm());
  double in_factor = 1.0, out_factor = 1.0;
  const std::string what = "the layer-imbalance trace of layer " + std::to_string(Layer);
  if (preserve == Preserve::function) {
    const double c = detail::solve_power_balance(a, 2.0, b, 2.0, target, what);
    in_factor = c;
    out_factor = 1.0 / c;
  } else if (preserve == Preserve::norm) {
    const double total = a + b;
    const double a_new = (total + target) / 2, b_new = (total - target) / 2;
    if (!(std::abs(target) <= total) || (a == 0.0 && a_new > 0.0) || (b == 0.0 && b_new > 0.0))
      detail::unreachable_target(what, target,
                                 "keeping the norm of the two layers (" + detail::format_number(total) +
                                     ") allows only values in [−norm, norm] with both layers nonzero");
    in_factor = a > 0 ? std::sqrt(a_new / a) : 0.0;
    out_factor = b > 0 ? std::sqrt(b_new / b) : 0.0;
  } else {
    throw std::invalid_argument("symflow::with_layer_imbalance_trace: keeps the function or the norm, not the features");
  }
  w_in *= Scalar(in_factor);
  if constexpr (Model::has_bias) model.template bias<Layer>(p) *= Scalar(in_factor);
  w_out *= Scalar(out_factor);
  return p;
}

/// θ with the per-unit scaling imbalance (ScalingImbalance of hidden layer `Layer`) equal to
/// `targets`, keeping the network function: unit k is rescaled by c_k > 0, which solves
/// A_k c² − α B_k c^{−2α} = target_k (A_k = ‖row k of W_i‖² + b_k², B_k = ‖column k of W_{i+1}‖²).
/// Works for any positively homogeneous activation, including the identity (the diagonal of the
/// layer imbalance).
template <int Layer = 1, MlpModel Model, class D, class DT>
typename Model::Params with_scaling_imbalance(const Model& model, const Eigen::MatrixBase<D>& theta,
                                              const Eigen::MatrixBase<DT>& targets) {
  detail::check_homogeneous_hidden_layer<Model, Layer>();
  using Scalar = typename Model::Scalar;
  auto p = detail::convert_checked<typename Model::Params>("θ", theta);
  auto w_in = model.template weight<Layer>(p);
  auto w_out = model.template weight<Layer + 1>(p);
  detail::require_length("targets (one per hidden unit)", w_in.rows(), targets.size());
  const double alpha = homogeneity_degree(model.activation());
  for (Index k = 0; k < w_in.rows(); ++k) {
    double a = static_cast<double>(w_in.row(k).squaredNorm());
    if constexpr (Model::has_bias) a += static_cast<double>(model.template bias<Layer>(p)[k] * model.template bias<Layer>(p)[k]);
    const double b = alpha * static_cast<double>(w_out.col(k).squaredNorm());
    const double c = detail::solve_power_balance(a, 2.0, b, 2.0 * alpha, static_cast<double>(targets[k]),
                                                 "the scaling imbalance of unit " + std::to_string(k));
    w_in.row(k) *= Scalar(c);
    if constexpr (Model::has_bias) model.template bias<Layer>(p)[k] *= Scalar(c);
    w_out.col(k) *= Scalar(std::pow(c, -alpha));
  }
  return p;
}

/// θ with the total of eq. (48) (ElementwiseQuantity summed over units) equal to `target`.
///  - Preserve::features (any elementwise σ): W_1 is kept and W_2 rescaled by c with
///    ½c²‖W_2‖² = target + ΣΦ(W_1); reachable iff target ≥ −ΣΦ(W_1) (and W_2 ≠ 0 unless equal).
///  - Preserve::function (positively homogeneous σ, incl. identity): the per-unit scaling orbit
///    with one common c, Q(c) = ½c^{−2α}‖W_2‖² − c²ΣΦ(W_1) (Φ is 2-homogeneous).
///  - Preserve::norm (any elementwise σ): ‖W_1‖² + ‖W_2‖² and the directions are kept; W_1 ↦ s W_1
///    with s ∈ [0, s_max] found by bracketing and bisection, W_2 rescaled to keep the norm. The
///    error names the range of Q over that segment when the target is outside it.
template <MlpModel Model, class D>
typename Model::Params with_elementwise_quantity(const Model& model, const Eigen::MatrixBase<D>& theta, double target,
                                                 Preserve preserve = Preserve::features,
                                                 const QuadratureOptions& options = {}) {
  using Scalar = typename Model::Scalar;
  using A = typename Model::Activation;
  const ElementwiseQuantity<Model> q(model, options);
  auto p = detail::convert_checked<typename Model::Params>("θ", theta);
  auto v = model.template weight<1>(p);
  auto u = model.template weight<2>(p);
  const double potential = static_cast<double>(q.incoming(p));
  const double outgoing = static_cast<double>(u.squaredNorm()) / 2;
  const std::string what = "the quantity of eq. (48)";
  if (preserve == Preserve::features) {
    const double needed = target + potential;
    if (needed < 0.0 || (outgoing == 0.0 && needed > 0.0))
      detail::unreachable_target(what, target,
                                 "keeping the first layer, ½‖W_2‖² − ΣΦ(W_1) ≥ −ΣΦ(W_1) = " +
                                     detail::format_number(-potential) + (outgoing == 0.0 ? " and W_2 = 0" : ""));
    if (outgoing > 0.0) u *= Scalar(std::sqrt(needed / outgoing));
    return p;
  }
  if (preserve == Preserve::function) {
    if constexpr (ScalingEquivariantActivation<A>) {
      const double alpha = homogeneity_degree(model.activation());
      // −Q(c) = ΣΦ c² − ½‖W_2‖² c^{−2α} is increasing in c.
      const double c = detail::solve_power_balance(potential, 2.0, outgoing, 2.0 * alpha, -target, what);
      v *= Scalar(c);
      u *= Scalar(std::pow(c, -alpha));
      return p;
    } else {
      throw std::invalid_argument("symflow::with_elementwise_quantity: keeping the function needs a positively "
                                  "homogeneous activation (a linear symmetry); use Preserve::features or Preserve::norm");
    }
  }
  // Preserve::norm: W_1 ↦ s W_1, W_2 ↦ t W_2 with s²‖W_1‖² + t²‖W_2‖² = N.
  const typename Model::Params start = p;
  const double v2 = static_cast<double>(v.squaredNorm());
  const double u2 = 2 * outgoing;
  const double total = v2 + u2;
  if (v2 == 0.0 || u2 == 0.0)
    throw std::invalid_argument("symflow::with_elementwise_quantity: keeping the norm needs both layers nonzero");
  const double s_max = std::sqrt(total / v2);
  auto evaluate = [&](double s) {
    typename Model::Params trial = start;
    model.template weight<1>(trial) *= Scalar(s);
    const double t2 = std::max(0.0, (total - s * s * v2) / u2);
    model.template weight<2>(trial) *= Scalar(std::sqrt(t2));
    return static_cast<double>(summed(q).value(trial));
  };
  // Scan for a sign change of Q(s) − target, then bisect to full precision.
  constexpr int grid = 64;
  double lo = 0.0, q_lo = evaluate(0.0) - target;
  double q_min = q_lo + target, q_max = q_min;
  double hi = -1.0, q_hi = 0.0;
  for (int i = 1; i <= grid && hi < 0; ++i) {
    const double s = s_max * i / grid;
    const double qs = evaluate(s) - target;
    q_min = std::min(q_min, qs + target);
    q_max = std::max(q_max, qs + target);
    if (qs == 0.0) { lo = hi = s; q_lo = q_hi = 0.0; break; }
    if ((qs > 0) != (q_lo > 0)) { hi = s; q_hi = qs; } else { lo = s; q_lo = qs; }
  }
  if (hi < 0)
    detail::unreachable_target(what, target,
                               "keeping the norm, Q runs over about [" + detail::format_number(q_min) + ", " +
                                   detail::format_number(q_max) + "] along the rescalings");
  for (int it = 0; it < 200 && hi - lo > 2 * std::numeric_limits<double>::epsilon() * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    const double qm = evaluate(mid) - target;
    if (qm == 0.0) { lo = hi = mid; break; }
    if ((qm > 0) == (q_lo > 0)) { lo = mid; q_lo = qm; } else { hi = mid; q_hi = qm; }
  }
  const double s = std::abs(q_lo) < std::abs(q_hi) ? lo : hi;
  model.template weight<1>(p) *= Scalar(s);
  model.template weight<2>(p) *= Scalar(std::sqrt(std::max(0.0, (total - s * s * v2) / u2)));
  return p;
}

/// θ with each unit's Q_k of eq. (48) equal to targets[k], keeping W_1 (hence the hidden features)
/// and the direction of each column of W_2: column k is rescaled so that ½c_k²‖u_k‖² = target_k +
/// Σ_j Φ(V_kj); reachable iff target_k ≥ −Σ_j Φ(V_kj).
template <MlpModel Model, class D, class DT>
typename Model::Params with_elementwise_quantities(const Model& model, const Eigen::MatrixBase<D>& theta,
                                                   const Eigen::MatrixBase<DT>& targets,
                                                   const QuadratureOptions& options = {}) {
  using Scalar = typename Model::Scalar;
  const ElementwiseQuantity<Model> q(model, options);
  auto p = detail::convert_checked<typename Model::Params>("θ", theta);
  auto u = model.template weight<2>(p);
  detail::require_length("targets (one per hidden unit)", u.cols(), targets.size());
  const auto potentials = q.potentials(p);
  for (Index k = 0; k < u.cols(); ++k) {
    const double needed = static_cast<double>(targets[k]) + static_cast<double>(potentials[k]);
    const double outgoing = static_cast<double>(u.col(k).squaredNorm()) / 2;
    if (needed < 0.0 || (outgoing == 0.0 && needed > 0.0))
      detail::unreachable_target("Q_" + std::to_string(k) + " of eq. (48)", static_cast<double>(targets[k]),
                                 "keeping the first layer, Q_k ≥ −Σ_j Φ(V_kj) = " +
                                     detail::format_number(-static_cast<double>(potentials[k])));
    if (outgoing > 0.0) u.col(k) *= Scalar(std::sqrt(needed / outgoing));
  }
  return p;
}

}  // namespace symflow
