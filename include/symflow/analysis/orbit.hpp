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
#include <limits>

#include <Eigen/SVD>

#include "symflow/core/config.hpp"
#include "symflow/group/equivariance.hpp"

namespace symflow {

/// The d × dim 𝔤 matrix whose column j is the generator M̄_jθ of the j-th basis element of the
/// action's Lie algebra: a spanning set of the orbit's tangent space at θ.
template <class Action>
Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic> orbit_tangent_matrix(const Action& action,
                                                                           const typename Action::Params& theta) {
  const Index dim = action.algebra().dimension();
  Eigen::Matrix<typename Action::Scalar, Dynamic, Dynamic> t(theta.size(), dim);
  for (Index j = 0; j < dim; ++j) t.col(j) = action.generator(action.algebra().basis(j), theta);
  return t;
}

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
template <class Action>
OrbitDimension orbit_dimension(const Action& action, const typename Action::Params& theta,
                               double relative_tolerance = -1) {
  const Eigen::MatrixXd t = orbit_tangent_matrix(action, theta).template cast<double>();
  OrbitDimension out;
  out.algebra_dimension = t.cols();
  const double eps = static_cast<double>(std::numeric_limits<typename Action::Scalar>::epsilon());
  out.relative_tolerance =
      relative_tolerance >= 0 ? relative_tolerance : static_cast<double>(std::max(t.rows(), t.cols())) * eps;
  if (t.size() == 0) return out;
  // One-sided Jacobi: accurate small singular values. (Eigen 3.4's divide-and-conquer BDCSVD was seen
  // to return 6.9e-4 and 1.9e-12 for singular values 1.24 and 0 of an exact 54 × 81 orbit matrix.)
  out.singular_values = Eigen::JacobiSVD<Eigen::MatrixXd>(t).singularValues();
  out.threshold = out.relative_tolerance * out.singular_values[0];
  while (out.dimension < out.singular_values.size() && out.singular_values[out.dimension] > out.threshold)
    ++out.dimension;
  return out;
}

/// The orbit dimension at a generic point of a two-layer block with m outputs, h hidden units and
/// n inputs (n + 1 with a hidden bias), under the group a hidden activation of that kind admits. See
/// the file comment for the derivation; LinearGroup::none gives 0.
constexpr Index generic_orbit_dimension(LinearGroup group, Index m, Index h, Index n) {
  const auto pos = [](Index a) { return a > 0 ? a : Index(0); };
  const auto pairs = [](Index a) { return a * (a - 1) / 2; };
  switch (group) {
    case LinearGroup::general_linear: return h * h - pos(h - m) * pos(h - n);
    case LinearGroup::positive_scaling: return h;
    case LinearGroup::orthogonal: return pairs(h) - pairs(pos(h - m - n));
    case LinearGroup::none: return 0;
  }
  return 0;
}

}  // namespace symflow
