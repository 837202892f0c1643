// Objectives with known gradient flows and descent iterates, shared by the integrator tests.
#pragma once
#include "support.hpp"

#include <Eigen/Dense>

namespace symflow::test {

/// L(θ) = ½ θᵀAθ − bᵀθ with A symmetric positive definite: ∇L = Aθ − b, minimiser θ* = A⁻¹b.
template <int D>
struct Quadratic {
  using Scalar = double;
  using Params = Eigen::Matrix<double, D, 1>;
  Eigen::Matrix<double, D, D> a;
  Params b;
  Scalar value_and_gradient(const Params& p, Params& g) const {
    g.noalias() = a * p;
    const double value = 0.5 * p.dot(g) - b.dot(p);
    g -= b;
    return value;
  }
  Params minimiser() const { return a.ldlt().solve(b); }
};

/// A random quadratic whose Hessian has eigenvalues spread over [lo, hi], with its eigenbasis.
template <int D>
Quadratic<D> random_quadratic(std::mt19937_64& rng, double lo, double hi, Eigen::Matrix<double, D, D>* basis = nullptr,
                              Eigen::Matrix<double, D, 1>* eigenvalues = nullptr) {
  using M = Eigen::Matrix<double, D, D>;
  using V = Eigen::Matrix<double, D, 1>;
  const Eigen::HouseholderQR<M> qr(normal<M>(rng));
  const M q = qr.householderQ();
  V lambda;
  for (int i = 0; i < D; ++i) lambda[i] = D == 1 ? lo : lo + (hi - lo) * i / (D - 1);
  Quadratic<D> quad{q * lambda.asDiagonal() * q.transpose(), normal<V>(rng)};
  quad.a = (0.5 * (quad.a + quad.a.transpose())).eval();
  if (basis) *basis = q;
  if (eigenvalues) *eigenvalues = lambda;
  return quad;
}

}  // namespace symflow::test
