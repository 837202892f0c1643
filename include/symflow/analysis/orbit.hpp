// SPDX-License-Identifier: MIT
#pragma once
/// \file The orbit of θ under a group action: its tangent space T_θ(G·θ) = {M̄θ : M ∈ 𝔤} and its
/// dimension, the numerical rank of the linear map M ↦ M̄θ over a basis of the Lie algebra
/// (§B.6, Example 6). On a critical locus the orbit is a flat valley of exactly that dimension.
///
/// For a two-layer block U σ(V X) at a generic point (U ∈ R^{m×h}, V ∈ R^{h×n} of full rank),
/// generic_orbit_dimension gives the closed forms:
///
///   GL_h:              h² − (h − m)₊ (h − n)₊          (eq. 20)
///   positive scaling:  h                               (eq. 21 states min(h, max(n, m)): wrong for h > max(n, m))
///   O(h):              C(h, 2) − C((h − m − n)₊, 2)     (eq. 22 has max(m, n) for m + n: wrong for h > max(m, n))
///
/// with (x)₊ = max(x, 0) and C(a, 2) = a(a − 1)/2; a bias on the hidden layer adds one to n.
/// Derivation (kernel of M ↦ (−U dπ(M), M V)): for GL_h, M must map into ker U (dimension
/// (h − m)₊) and vanish on the range of V, a space of matrices of dimension (h − m)₊(h − n)₊. For
/// scaling, M = diag(c) is in the kernel only where column k of U and row k of V both vanish, never
/// at a generic point. For O(h), a skew M with UM = 0 and MV = 0 also has VᵀM = −(MV)ᵀ = 0, so its
/// columns and rows lie in K = ker U ∩ ker Vᵀ, of generic dimension (h − m − n)₊, and M ∈ so(K).

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include <Eigen/Eigenvalues>
#include <Eigen/Householder>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "symflow/core/config.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/orthogonal.hpp"
#include "symflow/group/scaling.hpp"

namespace symflow {

/// The d × dim 𝔤 matrix whose column j is the generator M̄_jθ of the j-th basis element of the
/// action's Lie algebra: a spanning set of the orbit's tangent space at θ.
template <class Action, class D>
Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic> orbit_tangent_matrix(const Action& action,
                                                                           const Eigen::MatrixBase<D>& theta_in) {
  const auto theta = detail::convert_checked<typename Action::Params>("θ", theta_in);
  const Index dim = action.algebra().dimension();
  Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic> t(theta.size(), dim);
  for (Index j = 0; j < dim; ++j) t.col(j) = action.generator(action.algebra().basis(j), theta);
  return t;
}

namespace detail {

/// The singular values of t, largest first, by a backward-stable method: each is within a small
/// multiple of ε·σ_max of the exact one (Golub & Van Loan §8.6), the accuracy a rank threshold of
/// order ε·σ_max needs. Steps, with A the taller of t and tᵀ (k = min(rows, cols) columns):
///  1. Householder QR of A: R (k × k) has the singular values of A (blocked, the bulk of the work);
///  2. Householder bidiagonalisation R = U₁ B V₁ᵀ (Golub–Kahan), B upper bidiagonal with diagonal
///     d₁ … d_k and superdiagonal e₁ … e_{k−1};
///  3. the eigenvalues of the 2k × 2k symmetric tridiagonal matrix with zero diagonal and
///     off-diagonal (d₁, e₁, d₂, e₂, …, d_k), a symmetric permutation of [[0, B], [Bᵀ, 0]] (the
///     Golub–Kahan form), whose eigenvalues are ±σ_i: implicit symmetric QR, the larger k are σ.
/// On a 750 × 2500 GL₅₀ orbit matrix as in Figure 8 this takes 0.18 s of CPU where Eigen's
/// JacobiSVD (two-sided Jacobi after a QR) took 4.8 s (g++ 12 -O3 -march=native, AMD EPYC), and it
/// is closer to the closed-form singular values √(σ_i(U)² + σ_j(V)²) of that matrix (largest
/// relative error of the 700 nonzero ones 7·10⁻¹⁴, JacobiSVD's 5·10⁻¹³). Eigen 3.4's
/// divide-and-conquer BDCSVD is avoided: it was seen to return 6.9e-4 and 1.9e-12 for singular
/// values 1.24 and 0 of an exact 54 × 81 orbit matrix.
/// A template, so that only the programs that count orbits instantiate the QR, the tridiagonal
/// eigensolver and the Jacobi fallback (as an inline function every file including symflow.hpp
/// compiled them: about 2 s of g++ per file).
template <class Matrix = Eigen::MatrixXd>
Eigen::VectorXd singular_values(const Matrix& t) {
  const Index k = std::min(t.rows(), t.cols());
  if (k == 0) return Eigen::VectorXd();
  Eigen::MatrixXd r;
  if (t.rows() >= t.cols())
    r = Eigen::HouseholderQR<Eigen::MatrixXd>(t).matrixQR().topRows(k).template triangularView<Eigen::Upper>();
  else
    r = Eigen::HouseholderQR<Eigen::MatrixXd>(t.transpose()).matrixQR().topRows(k).template triangularView<Eigen::Upper>();
  Eigen::VectorXd off(2 * k - 1), workspace(k);
  for (Index i = 0; i < k; ++i) {
    double tau = 0, beta = 0;
    // Zero column i below the diagonal from the left, then row i right of the superdiagonal from the right.
    r.col(i).tail(k - i).makeHouseholderInPlace(tau, beta);
    off[2 * i] = beta;
    r.bottomRightCorner(k - i, k - i - 1).applyHouseholderOnTheLeft(r.col(i).tail(k - i - 1), tau, workspace.data());
    if (i + 1 == k) break;
    r.row(i).tail(k - i - 1).makeHouseholderInPlace(tau, beta);
    off[2 * i + 1] = beta;
    r.bottomRightCorner(k - i - 1, k - i - 1)
        .applyHouseholderOnTheRight(r.row(i).tail(k - i - 2).transpose(), tau, workspace.data());
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> tridiagonal;
  tridiagonal.computeFromTridiagonal(Eigen::VectorXd::Zero(2 * k), off, Eigen::EigenvaluesOnly);
  if (tridiagonal.info() != Eigen::Success) return Eigen::JacobiSVD<Eigen::MatrixXd>(t).singularValues();
  // Ascending ±σ: the top k are the σ_i, a zero σ as a rounding-size value of either sign.
  Eigen::VectorXd sigma = tridiagonal.eigenvalues().tail(k).reverse().cwiseAbs();
  std::sort(sigma.begin(), sigma.end(), std::greater<>());
  return sigma;
}

}  // namespace detail

/// The dimension of an orbit, with the evidence: singular values of M ↦ M̄θ and the threshold.
struct OrbitDimension {
  /// Numerical rank of M ↦ M̄θ: the number of singular values above `threshold`.
  Index dimension = 0;
  /// dim 𝔤.
  Index algebra_dimension = 0;
  /// The absolute threshold applied: relative_tolerance · σ_max.
  double threshold = 0;
  double relative_tolerance = 0;
  /// Singular values of the orbit tangent matrix, largest first.
  Eigen::VectorXd singular_values;
  /// dim 𝔤 − dim orbit: the dimension of the stabiliser of θ.
  Index stabilizer_dimension() const { return algebra_dimension - dimension; }
  /// σ_r / σ_{r+1} at the rank r (infinite when r is the full algebra dimension or σ_{r+1} = 0): how
  /// clearly the rank is separated.
  double gap() const {
    if (dimension == 0 || dimension >= singular_values.size() || singular_values[dimension] == 0)
      return std::numeric_limits<double>::infinity();
    return singular_values[dimension - 1] / singular_values[dimension];
  }
};

/// The orbit dimension at θ: the numerical rank of the orbit tangent matrix T, counting singular
/// values σ_i > relative_tolerance·σ_max. Default tolerance max(d, dim 𝔤)·ε of the action's scalar
/// (the convention of LAPACK-based rank functions): generators exact up to rounding give singular values
/// of order ε·σ_max where the map is degenerate.
template <class Action, class D>
OrbitDimension orbit_dimension(const Action& action, const Eigen::MatrixBase<D>& theta,
                               double relative_tolerance = -1) {
  // A NaN would make every singular value NaN and the count 0: an answer, but a wrong one.
  using std::isfinite;
  for (Index i = 0; i < theta.size(); ++i)
    if (!isfinite(theta.coeff(i)))
      throw std::invalid_argument("symflow::orbit_dimension: θ entry " + std::to_string(i) + " is " +
                                  std::to_string(static_cast<double>(theta.coeff(i))) + "; the orbit of a non-finite point is undefined");
  if (!(relative_tolerance < 0 || std::isfinite(relative_tolerance)))
    throw std::invalid_argument("symflow::orbit_dimension: relative_tolerance is " + std::to_string(relative_tolerance) +
                                ", expected a finite number (or a negative one for the default)");
  const Eigen::MatrixXd t = orbit_tangent_matrix(action, theta).template cast<double>();
  OrbitDimension out;
  out.algebra_dimension = t.cols();
  const double eps = static_cast<double>(std::numeric_limits<typename Action::Scalar>::epsilon());
  out.relative_tolerance =
      relative_tolerance >= 0 ? relative_tolerance : static_cast<double>(std::max(t.rows(), t.cols())) * eps;
  if (t.size() == 0) return out;
  if (!t.allFinite())
    throw std::invalid_argument("symflow::orbit_dimension: the generators at θ overflow (a non-finite entry in the orbit tangent matrix)");
  out.singular_values = detail::singular_values(t);
  out.threshold = out.relative_tolerance * out.singular_values[0];
  while (out.dimension < out.singular_values.size() && out.singular_values[out.dimension] > out.threshold)
    ++out.dimension;
  return out;
}

/// The orbit dimension at a generic point of a two-layer block with m outputs, h hidden units and
/// n inputs (n + 1 with a hidden bias), under the group of policy `Tag` (e.g. ScalingEquivariant, or
/// symflow::equivariance<Activation>): the policy's own closed form (see the file comment for the
/// derivations); a tag without a group (NotLinearlyEquivariant) gives 0.
template <class Tag>
constexpr Index generic_orbit_dimension(Index m, Index h, Index n) {
  if constexpr (detail::names_group<Tag>::value)
    return Tag::template group<double, Dynamic>::generic_orbit_dimension(m, h, n);
  else
    return 0;
}

}  // namespace symflow
