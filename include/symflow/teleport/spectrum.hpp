// SPDX-License-Identifier: MIT
#pragma once
/// \file The top of a Hessian's spectrum and its trace from Hessian-vector products alone.
///
///  - top_eigenpair: Lanczos with full reorthogonalisation on v ↦ Hv. After m steps the Ritz pair
///    (θ, y) of the tridiagonal T_m has residual ‖Hy − θy‖ = |β_m s_m| (s_m the last entry of T_m's
///    eigenvector), which is the stopping test; with m = d it is exact.
///  - trace_estimate: Hutchinson's (1/p) Σ zᵀHz over p fixed Rademacher probes (E[zzᵀ] = I); with
///    p ≥ d the probes are the standard basis and the trace is exact. The probes are drawn once, so
///    the estimate is a smooth, deterministic function of θ (what an optimiser over the orbit needs).

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <Eigen/Eigenvalues>

#include "symflow/core/config.hpp"

namespace symflow {

/// Options of the Lanczos iteration.
struct LanczosOptions {
  /// Krylov dimension at most (also capped by d).
  Index max_iterations = 80;
  /// Stop when the Ritz residual ‖Hy − θy‖ ≤ tolerance · |θ|.
  double tolerance = 1e-10;
};

/// The largest eigenvalue of a symmetric operator and a unit eigenvector.
template <class Vector>
struct EigenPair {
  typename Vector::Scalar value{0};
  Vector vector;
  /// ‖Hy − λy‖ at the end.
  double residual = 0;
  Index iterations = 0;
};

/// Largest (algebraic) eigenpair of the symmetric d×d operator hv(v) = Hv, started from `start`
/// (a random unit vector when it is zero or of the wrong size).
template <class Vector, class HessianVector>
EigenPair<Vector> top_eigenpair(const HessianVector& hv, const Vector& start, const LanczosOptions& options = {}) {
  using Scalar = typename Vector::Scalar;
  using Dense = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  const Index d = start.size();
  const Index m_max = std::max<Index>(1, std::min(options.max_iterations, d));
  Dense q(d, m_max);
  std::vector<Scalar> alpha, beta;
  Vector v = start;
  if (!(v.norm() > Scalar(0)) || !v.allFinite()) {
    std::mt19937_64 rng(12345);
    std::normal_distribution<double> n(0.0, 1.0);
    for (Index i = 0; i < d; ++i) v[i] = static_cast<Scalar>(n(rng));
  }
  v /= v.norm();
  using std::abs;
  EigenPair<Vector> out;
  Eigen::Matrix<Scalar, Dynamic, 1> ritz;
  for (Index m = 0; m < m_max; ++m) {
    q.col(m) = v;
    Vector w = hv(v);
    const Scalar a = v.dot(w);
    alpha.push_back(a);
    // Full reorthogonalisation, twice (classical Gram–Schmidt twice is enough).
    for (int pass = 0; pass < 2; ++pass) w -= q.leftCols(m + 1) * (q.leftCols(m + 1).transpose() * w);
    const Scalar b = w.norm();
    // Ritz pair of T_{m+1}, from its diagonal and subdiagonal: what SelfAdjointEigenSolver computes
    // for the dense T (scaled by its largest |entry|; the Householder reduction of a matrix that is
    // already tridiagonal leaves it and Q = I as they are), without that O(m³) reduction.
    Scalar theta;
    if (m == 0) {
      theta = alpha[0];
      ritz = Eigen::Matrix<Scalar, Dynamic, 1>::Ones(1);
    } else {
      Scalar scale(0);
      for (Index i = 0; i <= m; ++i) scale = std::max(scale, abs(alpha[i]));
      for (Index i = 0; i < m; ++i) scale = std::max(scale, abs(beta[i]));
      if (scale == Scalar(0)) scale = Scalar(1);
      Eigen::Matrix<Scalar, Dynamic, 1> diagonal(m + 1), subdiagonal(m);
      for (Index i = 0; i <= m; ++i) diagonal[i] = alpha[i] / scale;
      for (Index i = 0; i < m; ++i) subdiagonal[i] = beta[i] / scale;
      Eigen::SelfAdjointEigenSolver<Dense> eig;
      eig.computeFromTridiagonal(diagonal, subdiagonal, Eigen::ComputeEigenvectors);
      theta = eig.eigenvalues()[m] * scale;
      ritz = eig.eigenvectors().col(m);
    }
    out.value = theta;
    out.residual = static_cast<double>(b * std::abs(ritz[m]));
    out.iterations = m + 1;
    if (out.residual <= options.tolerance * static_cast<double>(abs(theta)) || m + 1 == m_max ||
        !(b > Scalar(64) * std::numeric_limits<Scalar>::epsilon() * (abs(theta) + Scalar(1)))) {
      break;
    }
    beta.push_back(b);
    v = w / b;
  }
  out.vector = q.leftCols(out.iterations) * ritz;
  out.vector /= out.vector.norm();
  return out;
}

/// Fixed probe vectors for Hutchinson's estimator.
template <class Vector>
struct TraceProbes {
  std::vector<Vector> z;
  /// The probes are the standard basis: Σ e_iᵀHe_i is the trace itself.
  bool exact = false;
};

/// p Rademacher vectors (entries ±1), or the standard basis when p ≥ d.
template <class Vector, class Rng>
TraceProbes<Vector> trace_probes(Index d, Index p, Rng& rng) {
  TraceProbes<Vector> probes;
  probes.exact = p >= d;
  if (probes.exact) {
    for (Index i = 0; i < d; ++i) {
      Vector e = Vector::Zero(d);
      e[i] = 1;
      probes.z.push_back(e);
    }
    return probes;
  }
  std::bernoulli_distribution coin(0.5);
  for (Index j = 0; j < p; ++j) {
    Vector z(d);
    for (Index i = 0; i < d; ++i) z[i] = coin(rng) ? 1 : -1;
    probes.z.push_back(z);
  }
  return probes;
}

/// Tr H ≈ (1/p) Σ zᵀHz over the probes (exact for the standard basis).
template <class Vector, class HessianVector>
typename Vector::Scalar trace_estimate(const HessianVector& hv, const TraceProbes<Vector>& probes) {
  using Scalar = typename Vector::Scalar;
  Scalar sum(0);
  for (const auto& z : probes.z) sum += z.dot(hv(z));
  return probes.exact ? sum : sum / static_cast<Scalar>(probes.z.size());
}

}  // namespace symflow
