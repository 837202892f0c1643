// SPDX-License-Identifier: MIT
#pragma once
/// \file Spectral initialisation of the radial factorisation (Prop. 14) and the per-mode convergence
/// of Props. 15–16.
///
/// With Y = ΦΣ_YΨᵀ (full SVD, Y ∈ R^{m×n}) and U₀ = Φ_r diag(ū), V₀ = Ψ_r diag(v̄) (the first r
/// singular vectors), every row of V₀ᵀ is v̄_i ψ_iᵀ, so g(V₀ᵀ) = diag(ĝ(v̄))Ψ_rᵀ with ĝ(x) = h(|x|)x and
/// F = Σ_i ū_i ĝ(v̄_i) φ_i ψ_iᵀ. Gradient flow on ½‖Y − U g(Vᵀ)‖² keeps this form, each mode i moving
/// by the scalar system (eq. 60)
///     ū̇ = (σ_i^Y − ū ĝ(v̄)) ĝ(v̄),   v̄̇ = (σ_i^Y − ū ĝ(v̄)) ū ĝ′(v̄),
/// so σ_i^X = ū ĝ(v̄) obeys σ̇ = (σ^Y − σ^X)(ĝ(v̄)² + ū² ĝ′(v̄)²) (eq. 62). For h = r⁻² (ĝ = 1/x) and the
/// conserved λ_i = ū² + v̄² this is eq. (59): σ̇ = (σ^Y − σ^X)(σ^X² + 1)²/λ_i, and since (σ² + 1)² ≥ 1,
/// |σ^X(t) − σ^Y| ≤ |σ^X(0) − σ^Y| e^{−t/λ_i} (eq. 69). These rates are for the loss ½‖·‖²; the mean
/// squared error over the m·n entries multiplies every rate by 2/(m·n).

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <Eigen/SVD>

#include "symflow/conserved/quadrature.hpp"
#include "symflow/conserved/radial_factorization.hpp"
#include "symflow/core/config.hpp"

namespace symflow {

/// The full SVD of the targets, Y = Φ Σ Ψᵀ, with singular values in decreasing order.
template <class Scalar, int m, int n>
struct SpectralBasis {
  static constexpr int modes_at_compile_time = (m == Dynamic || n == Dynamic) ? Dynamic : (m < n ? m : n);
  /// Φ ∈ R^{m×m}.
  Eigen::Matrix<Scalar, m, m> left;
  /// Ψ ∈ R^{n×n}.
  Eigen::Matrix<Scalar, n, n> right;
  /// σ^Y, min(m, n) values.
  Eigen::Matrix<Scalar, modes_at_compile_time, 1> values;
};

/// Φ, Ψ and σ^Y of Y (Eigen::JacobiSVD, full U and V).
template <class D>
SpectralBasis<typename D::Scalar, D::RowsAtCompileTime, D::ColsAtCompileTime> spectral_basis(
    const Eigen::MatrixBase<D>& y) {
  // A dynamic-size SVD: the fixed-size JacobiSVD draws false maybe-uninitialized warnings from GCC 12.
  using Matrix = Eigen::Matrix<typename D::Scalar, Dynamic, Dynamic>;
  const Eigen::JacobiSVD<Matrix> svd(Matrix(y), Eigen::ComputeFullU | Eigen::ComputeFullV);
  SpectralBasis<typename D::Scalar, D::RowsAtCompileTime, D::ColsAtCompileTime> basis;
  basis.left = svd.matrixU();
  basis.right = svd.matrixV();
  basis.values = svd.singularValues();
  return basis;
}

namespace detail {

template <class Model, class Basis>
void check_spectral_shapes(const Model& model, const Basis& basis, Index given, const char* what) {
  require_shape("Φ (left singular vectors of Y)", model.output_size(), model.output_size(), basis.left.rows(),
                basis.left.cols());
  require_shape("Ψ (right singular vectors of Y)", model.input_size(), model.input_size(), basis.right.rows(),
                basis.right.cols());
  if (model.rank() > basis.values.size())
    throw std::invalid_argument("symflow: spectral initialisation needs r ≤ min(m, n); r = " +
                                std::to_string(model.rank()) + ", min(m, n) = " + std::to_string(basis.values.size()));
  require_length(what, model.rank(), given);
}

}  // namespace detail

/// θ with U = Φ_r diag(ū) and V = Ψ_r diag(v̄) (Prop. 14's spectral initialisation).
template <class Model, class Basis, class DU, class DV>
typename Model::Params spectral_initialization(const Model& model, const Basis& basis, const Eigen::MatrixBase<DU>& ubar,
                                               const Eigen::MatrixBase<DV>& vbar) {
  detail::check_spectral_shapes(model, basis, ubar.size(), "ū (one entry per mode)");
  detail::require_length("v̄ (one entry per mode)", model.rank(), vbar.size());
  typename Model::Params p = model.zero_params();
  const Index r = model.rank();
  model.u(p) = basis.left.leftCols(r) * ubar.asDiagonal();
  model.v(p) = basis.right.leftCols(r) * vbar.asDiagonal();
  return p;
}

/// Spectral initialisation for h = r⁻² at chosen conserved λ_i = ū_i² + v̄_i² and starting mode
/// values σ_i^X(0) = ū_i/v̄_i: v̄_i = √(λ_i/(σ_i² + 1)), ū_i = σ_i v̄_i (eq. 67). Every λ_i > 0 and
/// every real σ_i is reachable.
template <class Model, class Basis, class DL, class DS>
typename Model::Params spectral_initialization_at(const Model& model, const Basis& basis,
                                                  const Eigen::MatrixBase<DL>& lambda,
                                                  const Eigen::MatrixBase<DS>& sigma0) {
  detail::check_spectral_shapes(model, basis, lambda.size(), "λ (one entry per mode)");
  detail::require_length("σ^X(0) (one entry per mode)", model.rank(), sigma0.size());
  using Scalar = typename Model::Scalar;
  Eigen::Matrix<Scalar, Dynamic, 1> ubar(model.rank()), vbar(model.rank());
  for (Index i = 0; i < model.rank(); ++i) {
    if (!(lambda[i] > 0))
      throw std::invalid_argument("symflow::spectral_initialization_at: λ_" + std::to_string(i) + " = " +
                                  std::to_string(static_cast<double>(lambda[i])) +
                                  " is not reachable; λ = ū² + v̄² must be positive");
    using std::sqrt;
    vbar[i] = sqrt(Scalar(lambda[i]) / (Scalar(sigma0[i]) * Scalar(sigma0[i]) + Scalar(1)));
    ubar[i] = Scalar(sigma0[i]) * vbar[i];
  }
  return spectral_initialization(model, basis, ubar, vbar);
}

/// σ_i^X = φ_iᵀ U g(Vᵀ) ψ_i for the first r modes (the singular values of the model's output in
/// the basis of Y; exact singular values on the spectral manifold).
template <class Model, class Basis, class D>
Eigen::Matrix<typename Model::Scalar, Dynamic, 1> mode_values(const Model& model, const Basis& basis,
                                                               const Eigen::MatrixBase<D>& p) {
  using Scalar = typename Model::Scalar;
  const Eigen::Matrix<Scalar, Dynamic, Dynamic> eye = Eigen::Matrix<Scalar, Dynamic, Dynamic>::Identity(model.input_size(), model.input_size());
  const Eigen::Matrix<Scalar, Dynamic, Dynamic> f = model.forward(p, eye);
  const Eigen::Matrix<Scalar, Dynamic, Dynamic> rotated = basis.left.transpose() * f * basis.right;
  return rotated.diagonal().head(model.rank());
}

/// ‖ΦᵀFΨ − diag‖_F / ‖F‖_F: how far θ is from the spectral manifold (zero on it).
template <class Model, class Basis, class D>
typename Model::Scalar spectral_residual(const Model& model, const Basis& basis, const Eigen::MatrixBase<D>& p) {
  using Scalar = typename Model::Scalar;
  const Eigen::Matrix<Scalar, Dynamic, Dynamic> eye = Eigen::Matrix<Scalar, Dynamic, Dynamic>::Identity(model.input_size(), model.input_size());
  const Eigen::Matrix<Scalar, Dynamic, Dynamic> f = model.forward(p, eye);
  Eigen::Matrix<Scalar, Dynamic, Dynamic> rotated = basis.left.transpose() * f * basis.right;
  rotated.diagonal().setZero();
  return rotated.norm() / f.norm();
}

/// dσ^X/dt = (σ^Y − σ^X)(σ^X² + 1)²/λ, eq. (59) (h = r⁻², loss ½‖·‖²).
inline double mode_rate(double sigma_x, double sigma_y, double lambda) {
  const double s = sigma_x * sigma_x + 1;
  return (sigma_y - sigma_x) * s * s / lambda;
}

/// dσ^X/dt = (σ^Y − σ^X)(ĝ(v̄)² + ū² ĝ′(v̄)²), eq. (62), for any profile h (ĝ(x) = h(|x|)x).
template <class Profile>
double mode_rate(const Profile& h, double ubar, double vbar, double sigma_y) {
  const Dual<double> hx = h(Dual<double>(std::abs(vbar), 1.0));
  const double g = hx.value * vbar;
  const double slope = hx.value + std::abs(vbar) * hx.eps;  // ĝ′ is even: d/dx h(|x|)x = h + |x| h′
  return (sigma_y - ubar * g) * (g * g + ubar * ubar * slope * slope);
}

/// |σ^X(0) − σ^Y| e^{−t/λ}: the bound of eq. (69) on |σ^X(t) − σ^Y|.
inline double mode_bound(double t, double sigma_x0, double sigma_y, double lambda) {
  return std::abs(sigma_x0 - sigma_y) * std::exp(-t / lambda);
}

/// The time eq. (59) takes to move σ^X from a0 to a (a between a0 and σ^Y):
/// t = λ ∫_{a0}^{a} ds / ((σ^Y − s)(s² + 1)²), by adaptive quadrature after the substitution
/// s = σ^Y − (σ^Y − a0)e^{−w}, ds/(σ^Y − s) = dw, which turns the logarithmic singularity at σ^Y into
/// t = λ ∫_0^{w(a)} dw/(s(w)² + 1)², w(a) = ln((σ^Y − a0)/(σ^Y − a)), with a smooth integrand in (0, 1]:
/// full precision however close a is to σ^Y. Infinite for a = σ^Y ≠ a0.
inline double mode_time(double a0, double a, double sigma_y, double lambda, const QuadratureOptions& options = {}) {
  if ((a - a0) * (sigma_y - a0) < 0 || std::abs(a - a0) > std::abs(sigma_y - a0))
    throw std::invalid_argument("symflow::mode_time: σ^X moves monotonically from a0 towards σ^Y; a must lie between them");
  if (a == a0) return 0.0;
  if (a == sigma_y) return std::numeric_limits<double>::infinity();
  const double gap0 = sigma_y - a0;
  return lambda * integrate(
                      [sigma_y, gap0](double w) {
                        const double s = sigma_y - gap0 * std::exp(-w);
                        const double q = s * s + 1;
                        return 1.0 / (q * q);
                      },
                      0.0, std::log(gap0 / (sigma_y - a)), options);
}

}  // namespace symflow
