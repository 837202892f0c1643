// SPDX-License-Identifier: MIT
#pragma once
/// \file Teleporting to a chosen value of the conserved quantity Q, the loss unchanged by invariance.
///
/// Positive scaling (R_{>0})^h on a hidden layer with an α-homogeneous activation. Unit k's quantity
/// along the orbit is Q_k(c) = a_k c² − α b_k c^{−2α}, a_k = ‖row k of W_i‖² + b_{i,k}², b_k = ‖column
/// k of W_{i+1}‖²: strictly increasing in c, so each unit is solved on its own, in closed form for
/// α = 1 (c² = (t + √(t² + 4a b))/(2a)). Reachable: all of R when a_k, b_k > 0; only t < 0 when the
/// unit receives nothing (a_k = 0); only t > 0 when it sends nothing (b_k = 0); only 0 when both.
///
/// GL_h on a linear hidden layer. With A = W_iW_iᵀ + b_ib_iᵀ and B = W_{i+1}ᵀW_{i+1} (the two Gram
/// matrices), Q(g·θ) = g A gᵀ − g⁻ᵀ B g⁻¹.
///  - Balanced, Q = 0: g A gᵀ = g⁻ᵀ B g⁻¹ ⇔ P A P = B with P = gᵀg. For A, B positive definite the
///    unique positive definite solution is the matrix geometric mean P = A⁻¹ # B =
///    A^{−1/2}(A^{1/2} B A^{1/2})^{1/2} A^{−1/2} (substitute: P A P = A^{−1/2} S² A^{−1/2} = B for
///    S² = A^{1/2}BA^{1/2}). Every solution is g = O P^{1/2}, O orthogonal; symflow returns the
///    symmetric one, g = P^{1/2}, which is the nearest to the identity among them (polar
///    decomposition). Computed through the Cholesky factor A = LLᵀ: P = L⁻ᵀ(LᵀBL)^{1/2}L⁻¹.
///  - Any symmetric target T: Newton's method on symmetric steps g ← exp(S) g. The derivative of Q
///    along exp(tS) is S C + C S with C = gAgᵀ + g⁻ᵀBg⁻¹ positive definite, so the Newton step solves
///    the Lyapunov equation S C + C S = T − Q in the eigenbasis of C: S̃_kl = R̃_kl/(λ_k + λ_l).
///    Converges quadratically (the report's history shows it), with halving of the step when the
///    residual does not fall. Every symmetric T is reachable when A, B ≻ 0 (take X, Y diagonal with
///    x_k − y_k = t_k, x_k y_k = μ_k, μ the eigenvalues of AB, which the orbit keeps).
///  - A or B singular (narrow layers: W_i of n_{i−1} < h columns, or W_{i+1} of n_{i+1} < h rows).
///    Newton needs only C ≻ 0, i.e. A + B ≻ 0 (every hidden direction receives or sends something);
///    A + B singular is refused, naming the rank (Q vanishes on that direction for good). Congruence
///    keeps rank A and rank B, so Q = 0 (A' = B') is refused when they differ; not every T is then
///    reachable (the inertia of Q is constrained), and Newton reports a stall for those it cannot
///    reach. Near a reachable T, as after one descent step from it (Restoring), it converges.
///
/// Q = 0 is also where ‖g·θ‖² is smallest on the orbit: ⟨θ, M̄θ⟩ = ½ d/dt ‖exp(tM)θ‖² = Q_M (Prop.
/// 12), and ‖exp(tM)θ‖² is convex in t for symmetric M. So balancing is the minimum-norm point of
/// the orbit (Kempf–Ness), unique up to O(h).
///
/// Products over layers (eq. 17): layers share weights (W_{i+1} is outgoing for layer i and
/// incoming for layer i + 1), so the per-layer solutions are swept in turn (Gauss–Seidel) until
/// every layer's residual is below the tolerance. For Q = 0 this is exact block-coordinate descent
/// of the convex ‖g·θ‖², which converges; for other targets the sweeps are reported honestly
/// (status budget when they do not converge).
///
/// O(h) conserves no quantity (its generators are antisymmetric, Q_M = 0): use the steepest or the
/// flattest teleport there.

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/scaling_imbalance.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/product_action.hpp"
#include "symflow/group/scaling.hpp"
#include "symflow/init/chosen_quantity.hpp"
#include "symflow/teleport/orbit_gradient.hpp"
#include "symflow/teleport/report.hpp"

namespace symflow {

/// Options of the quantity teleports.
struct QuantityTargetOptions {
  /// Relative residual ‖Q − T‖/(‖A‖ + ‖B‖ + ‖T‖) (per unit for scaling) counted as reached;
  /// negative: 1000 ε of the scalar (2.2e-13 in double).
  double tolerance = -1;
  /// Newton steps per layer, and Gauss–Seidel sweeps over the layers of a product.
  int max_iterations = 100;
};

namespace detail {

template <class Scalar>
double quantity_tolerance(const QuantityTargetOptions& o) {
  return o.tolerance >= 0 ? o.tolerance : 1000.0 * static_cast<double>(std::numeric_limits<Scalar>::epsilon());
}

template <class A> struct is_scaling_action : std::false_type {};
template <class M, int L> struct is_scaling_action<ScalingAction<M, L>> : std::true_type {};
template <class A> struct is_general_linear_action : std::false_type {};
template <class M, int L> struct is_general_linear_action<GeneralLinearAction<M, L>> : std::true_type {};

template <class A>
inline constexpr bool has_quantity_v = is_scaling_action<A>::value || is_general_linear_action<A>::value;
template <class... F>
inline constexpr bool has_quantity_v<ProductAction<F...>> = (has_quantity_v<F> && ...);

/// Stands for the quantity of an action that conserves none (the static_assert below names why).
struct NoQuantity {};

template <class Action>
struct quantity_value_of {
  using type = NoQuantity;
};
template <class M, int L>
struct quantity_value_of<ScalingAction<M, L>> {
  using type = typename ScalingImbalance<M, L>::Value;
};
template <class M, int L>
struct quantity_value_of<GeneralLinearAction<M, L>> {
  using type = typename LayerImbalance<M, L>::Value;
};
template <class... F>
struct quantity_value_of<ProductAction<F...>> {
  using type = std::tuple<typename quantity_value_of<F>::type...>;
};
/// No member `type` for what is not an action, so that the overloads taking an objective first
/// drop out cleanly.
template <class Action, bool = OrbitAction<Action>>
struct quantity_value {};
template <class Action>
struct quantity_value<Action, true> : quantity_value_of<Action> {};

template <class Action>
constexpr void check_has_quantity() {
  static_assert(has_quantity_v<Action>,
                "symflow::teleport_to_quantity: this action conserves no quantity that symflow can target. Q targets "
                "exist for ScalingAction (per unit), GeneralLinearAction (the layer-imbalance matrix) and their "
                "products; O(h) has antisymmetric generators (Q_M = 0) and the pseudoinverse action conserves "
                "nothing: use teleport_to_steepest or teleport_to_flattest there");
}

/// The eigendecomposition of a symmetric matrix, always through the run-time-sized solver: Eigen's
/// SelfAdjointEigenSolver costs 4–6 s of compile time per matrix type, and at the sizes of a hidden
/// layer a fixed-size solver gains nothing, so each scalar type instantiates it once.
template <class Derived>
Eigen::SelfAdjointEigenSolver<Eigen::Matrix<typename Derived::Scalar, Dynamic, Dynamic>> symmetric_eigen(
    const Eigen::MatrixBase<Derived>& s, int options = Eigen::ComputeEigenvectors) {
  return Eigen::SelfAdjointEigenSolver<Eigen::Matrix<typename Derived::Scalar, Dynamic, Dynamic>>(s, options);
}

/// Symmetric function of a symmetric matrix through its eigendecomposition.
template <class Matrix, class F>
Matrix symmetric_function(const Matrix& s, F f) {
  const auto eig = symmetric_eigen(s);
  return eig.eigenvectors() * eig.eigenvalues().unaryExpr(f).asDiagonal() * eig.eigenvectors().transpose();
}

/// One layer's outcome: the element, the status and the residual reached.
template <class Group>
struct LayerSolve {
  Group g;
  TeleportStatus status = TeleportStatus::reached;
  std::string reason;
  double residual = 0;
  Index iterations = 0;
};

template <class Action, class Params>
double quantity_residual(const Action& action, const Params& theta, const typename quantity_value<Action>::type& target);

}  // namespace detail

/// The value of the conserved quantity Q that `action` labels its orbit with: a vector (one entry per
/// unit) for ScalingAction, the h×h layer-imbalance matrix for GeneralLinearAction, a tuple of those
/// for a product (sign convention: incoming minus outgoing, as ScalingImbalance and LayerImbalance).
template <class Action>
using QuantityValue = typename detail::quantity_value<Action>::type;

template <class Action>
QuantityValue<Action> orbit_quantity(const Action& action, const typename Action::Params& theta) {
  detail::check_has_quantity<Action>();
  if constexpr (detail::is_product_action<Action>::value) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return QuantityValue<Action>(orbit_quantity(action.template factor<I>(), theta)...);
    }(std::make_index_sequence<Action::factors>{});
  } else if constexpr (detail::is_scaling_action<Action>::value) {
    return ScalingImbalance<typename Action::ModelType, Action::layer>(action.model()).value(theta);
  } else {
    return LayerImbalance<typename Action::ModelType, Action::layer>(action.model()).value(theta);
  }
}

/// The positive definite P with P A P = B for positive definite A and B: the matrix geometric mean
/// A⁻¹ # B, through A = LLᵀ as P = L⁻ᵀ (LᵀBL)^{1/2} L⁻¹. Throws std::invalid_argument if A is not
/// positive definite.
template <class Matrix>
Matrix riccati_geometric_mean(const Matrix& a, const Matrix& b) {
  using Scalar = typename Matrix::Scalar;
  const Eigen::LLT<Matrix> llt(a);
  if (llt.info() != Eigen::Success) throw std::invalid_argument("symflow::riccati_geometric_mean: A is not positive definite");
  const Matrix l = llt.matrixL();
  Matrix m = l.transpose() * b * l;
  m = (Scalar(0.5) * (m + m.transpose())).eval();
  const Matrix s = detail::symmetric_function(m, [](const Scalar& x) {
    using std::sqrt;
    return x > Scalar(0) ? sqrt(x) : Scalar(0);
  });
  // L⁻ᵀ S L⁻¹ by two triangular solves.
  Matrix y = l.transpose().template triangularView<Eigen::Upper>().solve(s);
  Matrix p = l.transpose().template triangularView<Eigen::Upper>().solve(y.transpose());
  return (Scalar(0.5) * (p + p.transpose())).eval();
}

namespace detail {

/// The Gram matrices A = W_iW_iᵀ + b_ib_iᵀ and B = W_{i+1}ᵀW_{i+1} of a GL layer at θ.
template <class Action, class Params>
auto gram_matrices(const Action& action, const Params& theta) {
  using Matrix = Eigen::Matrix<typename Action::Scalar, Action::width_at_compile_time, Action::width_at_compile_time>;
  constexpr int i = Action::layer;
  const auto& model = action.model();
  const auto w = model.template weight<i>(theta);
  const auto u = model.template weight<i + 1>(theta);
  Matrix a = w * w.transpose();
  if constexpr (Action::ModelType::has_bias) a.noalias() += model.template bias<i>(theta) * model.template bias<i>(theta).transpose();
  Matrix b = u.transpose() * u;
  return std::pair<Matrix, Matrix>(a, b);
}

/// Smallest eigenvalue / largest of a symmetric positive semidefinite matrix, and its numerical rank.
template <class Matrix>
std::pair<double, Index> spd_condition(const Matrix& a) {
  const auto eig = symmetric_eigen(a, Eigen::EigenvaluesOnly);
  const auto& ev = eig.eigenvalues();
  const double top = static_cast<double>(ev.cwiseAbs().maxCoeff());
  const double eps = static_cast<double>(std::numeric_limits<typename Matrix::Scalar>::epsilon());
  Index rank = 0;
  for (Index k = 0; k < ev.size(); ++k)
    if (static_cast<double>(ev[k]) > static_cast<double>(ev.size()) * eps * top) ++rank;
  return {top > 0 ? static_cast<double>(ev.minCoeff()) / top : 0.0, rank};
}

template <class Action, class Params>
LayerSolve<typename Action::Group> solve_scaling_layer(const Action& action, const Params& theta,
                                                       const QuantityValue<Action>& target) {
  using Scalar = typename Action::Scalar;
  constexpr int i = Action::layer;
  const auto& model = action.model();
  const auto w = model.template weight<i>(theta);
  const auto u = model.template weight<i + 1>(theta);
  require_length("target Q (one entry per hidden unit)", w.rows(), target.size());
  const double alpha = static_cast<double>(action.degree());
  LayerSolve<typename Action::Group> out;
  out.g = action.identity();
  for (Index k = 0; k < w.rows(); ++k) {
    double a = static_cast<double>(w.row(k).squaredNorm());
    if constexpr (Action::ModelType::has_bias) a += static_cast<double>(model.template bias<i>(theta)[k]) * static_cast<double>(model.template bias<i>(theta)[k]);
    const double b = alpha * static_cast<double>(u.col(k).squaredNorm());
    const double t = static_cast<double>(target[k]);
    try {
      out.g[k] = static_cast<Scalar>(solve_power_balance(a, 2.0, b, 2.0 * alpha, t,
                                                         "Q_" + std::to_string(k) + " of hidden layer " + std::to_string(i)));
    } catch (const std::invalid_argument& e) {
      out.g = action.identity();
      out.status = TeleportStatus::unreachable;
      out.reason = std::string(e.what()) + " (a unit whose incoming or outgoing weights vanish is dead: its Q keeps its sign)";
      return out;
    }
  }
  out.iterations = 1;
  out.residual = quantity_residual(action, action.act(out.g, theta), target);
  return out;
}

template <class Action, class Params>
LayerSolve<typename Action::Group> solve_general_linear_layer(const Action& action, const Params& theta,
                                                              const QuantityValue<Action>& target, double tol,
                                                              int max_iterations, std::vector<double>* history) {
  using Scalar = typename Action::Scalar;
  using Matrix = QuantityValue<Action>;
  const Index h = action.hidden();
  require_shape("target Q (h × h)", h, h, target.rows(), target.cols());
  LayerSolve<typename Action::Group> out;
  out.g = action.identity();
  const double target_norm = static_cast<double>(target.norm());
  if (static_cast<double>((target - target.transpose()).norm()) > 1e3 * tol * (1.0 + target_norm)) {
    out.status = TeleportStatus::invalid_input;
    out.reason = "symflow: the target Q of hidden layer " + std::to_string(Action::layer) +
                 " is not symmetric (‖T − Tᵀ‖ = " + format_number(static_cast<double>((target - target.transpose()).norm())) +
                 "); the layer imbalance W_iW_iᵀ − W_{i+1}ᵀW_{i+1} always is";
    return out;
  }
  auto [a, b] = gram_matrices(action, theta);
  // Newton's linearisation S ↦ S(A + B) + (A + B)S is invertible on symmetric S iff A + B is
  // positive definite; the closed-form balance needs A and B each of full rank.
  const auto [cs, rs] = spd_condition(Matrix(a + b));
  const auto [ca, ra] = spd_condition(a);
  const auto [cb, rb] = spd_condition(b);
  const auto layer_name = "hidden layer " + std::to_string(Action::layer);
  if (rs < h || !(cs > 0)) {
    out.status = TeleportStatus::unreachable;
    out.reason = "symflow: " + layer_name + " has a hidden direction that receives and sends nothing (W_iW_iᵀ + b_ib_iᵀ + " +
                 "W_{i+1}ᵀW_{i+1} has rank " + std::to_string(rs) + " of h = " + std::to_string(h) +
                 "): Q vanishes on it along the whole orbit";
    return out;
  }
  if (target_norm == 0.0 && ra != rb) {
    out.status = TeleportStatus::unreachable;
    out.reason = "symflow: Q = 0 on " + layer_name + " needs W_iW_iᵀ + b_ib_iᵀ = W_{i+1}ᵀW_{i+1}, but they have ranks " +
                 std::to_string(ra) + " and " + std::to_string(rb) + " and the group action keeps both ranks";
    return out;
  }
  const bool balance = target_norm == 0.0 && ra == h && rb == h && ca > 0 && cb > 0;
  Params current = theta;
  auto residual_at = [&](const Params& p) { return quantity_residual(action, p, target); };
  if (balance) {
    // Closed form: g = P^{1/2}, P = A⁻¹ # B.
    const Matrix p = riccati_geometric_mean(Matrix(a), Matrix(b));
    out.g = symmetric_function(p, [](const Scalar& x) {
      using std::sqrt;
      return sqrt(x);
    });
    out.g = (Scalar(0.5) * (out.g + out.g.transpose())).eval();  // exactly symmetric, as P^{1/2} is
    current = action.act(out.g, theta);
  }
  double r = residual_at(current);
  if (history) history->push_back(r);
  while (!(r <= tol)) {
    if (out.iterations >= max_iterations) {
      out.status = TeleportStatus::budget;
      out.reason = "symflow: Newton's method stopped after " + std::to_string(max_iterations) +
                   " steps at relative residual " + format_number(r);
      break;
    }
    auto [qa, qb] = gram_matrices(action, current);
    const Matrix rhs = target - (qa - qb);
    const auto eig = symmetric_eigen(Matrix(qa + qb));
    const auto& v = eig.eigenvectors();
    const auto& lam = eig.eigenvalues();
    Matrix s = v.transpose() * rhs * v;
    for (Index k = 0; k < h; ++k)
      for (Index l = 0; l < h; ++l) s(k, l) /= lam[k] + lam[l];
    s = (v * s * v.transpose()).eval();
    s = (Scalar(0.5) * (s + s.transpose())).eval();
    Scalar t(1);
    bool accepted = false;
    for (int halving = 0; halving < 40; ++halving, t /= Scalar(2)) {
      const Matrix step = symmetric_function(Matrix(t * s), [](const Scalar& x) {
        using std::exp;
        return exp(x);
      });
      if (!step.allFinite()) continue;
      Params next;
      try {
        next = action.act(step, current);
      } catch (const std::invalid_argument&) {
        continue;  // exp(tS) singular to working precision: a shorter step
      }
      const double rn = residual_at(next);
      if (rn < r) {
        current = next;
        out.g = (step * out.g).eval();
        r = rn;
        accepted = true;
        break;
      }
    }
    ++out.iterations;
    if (history) history->push_back(r);
    if (!accepted) {
      out.status = TeleportStatus::stalled;
      out.reason = "symflow: no Newton step lowered the residual below " + format_number(r) + " (tolerance " +
                   format_number(tol) + ")";
      break;
    }
  }
  out.residual = r;
  return out;
}

template <class Action, class Params>
double quantity_residual(const Action& action, const Params& theta, const QuantityValue<Action>& target) {
  constexpr int i = Action::layer;
  const auto& model = action.model();
  if constexpr (is_scaling_action<Action>::value) {
    const auto q = orbit_quantity(action, theta);
    const auto w = model.template weight<i>(theta);
    const auto u = model.template weight<i + 1>(theta);
    const double alpha = static_cast<double>(action.degree());
    double worst = 0;
    for (Index k = 0; k < q.size(); ++k) {
      double a = static_cast<double>(w.row(k).squaredNorm());
      if constexpr (Action::ModelType::has_bias) a += static_cast<double>(model.template bias<i>(theta)[k]) * static_cast<double>(model.template bias<i>(theta)[k]);
      const double scale = a + alpha * static_cast<double>(u.col(k).squaredNorm()) + std::abs(static_cast<double>(target[k]));
      const double e = std::abs(static_cast<double>(q[k]) - static_cast<double>(target[k]));
      worst = std::max(worst, scale > 0 ? e / scale : e);
    }
    return worst;
  } else {
    const auto [a, b] = gram_matrices(action, theta);
    const double scale = static_cast<double>(a.norm() + b.norm() + target.norm());
    const double e = static_cast<double>((a - b - target).norm());
    return scale > 0 ? e / scale : e;
  }
}

template <class Action, class Params>
LayerSolve<typename Action::Group> solve_layer(const Action& action, const Params& theta, const QuantityValue<Action>& target,
                                               double tol, int max_iterations, std::vector<double>* history) {
  if constexpr (is_scaling_action<Action>::value) return solve_scaling_layer(action, theta, target);
  else return solve_general_linear_layer(action, theta, target, tol, max_iterations, history);
}

template <class Action>
QuantityValue<Action> zero_quantity(const Action& action) {
  if constexpr (is_product_action<Action>::value) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return QuantityValue<Action>(zero_quantity(action.template factor<I>())...);
    }(std::make_index_sequence<Action::factors>{});
  } else if constexpr (is_scaling_action<Action>::value) {
    return QuantityValue<Action>::Zero(action.hidden());
  } else {
    return QuantityValue<Action>::Zero(action.hidden(), action.hidden());
  }
}

template <class Action, class Params>
double total_residual(const Action& action, const Params& theta, const QuantityValue<Action>& target) {
  if constexpr (is_product_action<Action>::value) {
    double worst = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((worst = std::max(worst, quantity_residual(action.template factor<I>(), theta, std::get<I>(target)))), ...);
    }(std::make_index_sequence<Action::factors>{});
    return worst;
  } else {
    return quantity_residual(action, theta, target);
  }
}

template <class Scalar, class Objective, class Params>
double loss_or_nan(const Objective* objective, const Params& theta) {
  if constexpr (std::is_same_v<Objective, void>) return std::numeric_limits<double>::quiet_NaN();
  else return objective ? static_cast<double>(objective->value(theta)) : std::numeric_limits<double>::quiet_NaN();
}

template <class Objective, class Action>
Teleported<Action> teleport_to_quantity(const Objective* objective, const Action& action, const typename Action::Params& theta,
                                        const QuantityValue<Action>& target, const QuantityTargetOptions& options) {
  check_has_quantity<Action>();
  using Scalar = typename Action::Scalar;
  const double tol = quantity_tolerance<Scalar>(options);
  Teleported<Action> out{theta, action.identity(), {}};
  auto& report = out.report;
  if (!theta.allFinite()) {
    report.status = TeleportStatus::invalid_input;
    report.reason = "symflow: θ has a non-finite entry; it is left unchanged";
    report.loss_before = report.loss_after = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  bool finite_target = true;
  if constexpr (is_product_action<Action>::value) std::apply([&](const auto&... t) { finite_target = (t.allFinite() && ...); }, target);
  else finite_target = target.allFinite();
  report.loss_before = loss_or_nan<Scalar>(objective, theta);
  report.loss_after = report.loss_before;
  if (!finite_target) {
    report.status = TeleportStatus::invalid_input;
    report.reason = "symflow: the target Q has a non-finite entry";
    return out;
  }
  report.objective_before = total_residual(action, theta, target);
  if constexpr (is_product_action<Action>::value) {
    typename Action::Params current = theta;
    typename Action::Group g = action.identity();
    double r = report.objective_before;
    while (!(r <= tol)) {
      if (report.iterations >= options.max_iterations) {
        report.status = TeleportStatus::budget;
        report.reason = "symflow: " + std::to_string(options.max_iterations) + " sweeps over the layers left the relative residual at " +
                        format_number(r);
        break;
      }
      bool failed = false;
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (([&] {
           if (failed) return;
           const auto& f = action.template factor<I>();
           auto s = solve_layer(f, current, std::get<I>(target), tol, options.max_iterations, nullptr);
           if (s.status == TeleportStatus::unreachable || s.status == TeleportStatus::invalid_input) {
             report.status = s.status;
             report.reason = s.reason;
             failed = true;
             return;
           }
           f.apply_inplace(s.g, current);
           std::get<I>(g) = f.compose(s.g, std::get<I>(g));
         }()),
         ...);
      }(std::make_index_sequence<Action::factors>{});
      if (failed) return Teleported<Action>{theta, action.identity(), report};
      ++report.iterations;
      r = total_residual(action, current, target);
      report.history.push_back(r);
    }
    out.theta = current;
    out.g = g;
    report.objective_after = r;
  } else {
    auto s = solve_layer(action, theta, target, tol, options.max_iterations, &report.history);
    report.iterations = s.iterations;
    if (s.status == TeleportStatus::unreachable || s.status == TeleportStatus::invalid_input) {
      report.status = s.status;
      report.reason = s.reason;
      report.objective_after = report.objective_before;
      return out;
    }
    out.g = s.g;
    out.theta = action.act(s.g, theta);
    // The residual of θ' = g·θ itself (the iterates reached it through rounded intermediate points).
    s.residual = quantity_residual(action, out.theta, target);
    report.status = s.residual <= tol ? TeleportStatus::reached : s.status;
    if (s.status == TeleportStatus::reached && !(s.residual <= tol)) {
      report.status = TeleportStatus::stalled;
      report.reason = "symflow: residual " + format_number(s.residual) + " above the tolerance " + format_number(tol);
    } else {
      report.reason = s.reason;
    }
    report.objective_after = s.residual;
  }
  report.loss_after = loss_or_nan<Scalar>(objective, out.theta);
  return out;
}

}  // namespace detail

/// g·θ with Q(g·θ) = target (see the file comment for the groups, the method and what is reachable).
/// θ is never modified; on failure the result holds θ, the identity and the reason.
template <class Action>
Teleported<Action> teleport_to_quantity(const Action& action, const typename Action::Params& theta,
                                        const QuantityValue<Action>& target, const QuantityTargetOptions& options = {}) {
  return detail::teleport_to_quantity<void>(nullptr, action, theta, target, options);
}

/// The same, with the loss before and after in the report.
template <class Objective, class Action>
Teleported<Action> teleport_to_quantity(const Objective& objective, const Action& action, const typename Action::Params& theta,
                                        const QuantityValue<Action>& target, const QuantityTargetOptions& options = {}) {
  return detail::teleport_to_quantity(&objective, action, theta, target, options);
}

/// g·θ with Q(g·θ) = 0: the balanced point, the minimum-norm point of the orbit; in closed form for
/// one GL layer (g = (A⁻¹ # B)^{1/2}) and for each scaling unit.
template <class Action>
Teleported<Action> balance(const Action& action, const typename Action::Params& theta, const QuantityTargetOptions& options = {}) {
  detail::check_has_quantity<Action>();
  return teleport_to_quantity(action, theta, detail::zero_quantity(action), options);
}

template <class Objective, class Action>
Teleported<Action> balance(const Objective& objective, const Action& action, const typename Action::Params& theta,
                           const QuantityTargetOptions& options = {}) {
  detail::check_has_quantity<Action>();
  return teleport_to_quantity(objective, action, theta, detail::zero_quantity(action), options);
}

}  // namespace symflow
