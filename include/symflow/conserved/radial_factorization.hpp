// SPDX-License-Identifier: MIT
#pragma once
/// \file The radial factorisation F = U g(VᵀX) of Appendix F.2 (eqs. 49–50), written as a user
/// model through symflow's model interface (so Objective, its gradient, Hessian-vector products
/// and the integrators work on it unchanged), and its conserved quantity (Prop. 14).
///
/// U ∈ R^{m×r}, V ∈ R^{n×r}; g acts on each row z of VᵀX ∈ R^{r×k} by g(z) = h(‖z‖) z, for a user
/// profile h written generically (a template or generic lambda, so that h′ follows by dual numbers).
/// θ = (vec U, vec V), column-major. With X = I the paper's model U g(Vᵀ) is recovered.
///
/// Conserved quantity. Write u_i, v_i for the i-th columns of U and V and ĝ(x) = h(|x|) x for the
/// scalar profile. With X = I, F = Σ_i u_i ĝ-rescaled v_iᵀ, and along gradient flow
///     d/dt ½‖u_i‖² = −u_iᵀ G R(v_i),   d/dt Ψ(‖v_i‖) = −(ĝ/ĝ′)(r) (1/r) v_iᵀ dR_{v_i}ᵀ Gᵀ u_i = −u_iᵀ G R(v_i),
/// with R(v) = h(‖v‖)v, r = ‖v_i‖, Ψ(s) = ∫_{s₀}^{s} ĝ(x)/ĝ′(x) dx, using dR_v v = ĝ′(r) v. Hence
///     Q_i = ½‖u_i‖² − Ψ(‖v_i‖)
/// is conserved for every U, V (not only on the spectral manifold of Prop. 14, where ‖u_i‖ = |ū_i|
/// and ‖v_i‖ = |v̄_i|, so that Q_i is eq. (58)), for every loss of F. For h(r) = r⁻² (Prop. 15),
/// ĝ(x) = 1/x, ĝ/ĝ′ = −x and Q_i = ½(‖u_i‖² + ‖v_i‖²) = λ_i/2 (eq. 65). The same holds for X with
/// XXᵀ = XᵀX = I (orthogonal); for other X the row norms of VᵀX are not ‖v_i‖ and Q_i drifts, except
/// when h is a power, h(r) = r^β: then g(cz) = c^{β+1}g(z) and (u_i, v_i) ↦ (c^{−β−1}u_i, c v_i) is a
/// linear symmetry for every X (for h = r⁻², (c u_i, c v_i) with Q_M = ‖u_i‖² + ‖v_i‖²).

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/conserved/quadrature.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow {

/// The profile h(r) = r⁻² of Prop. 15: g(z) = z/‖z‖², with the closed-form potential
/// Ψ(s) = ∫_0^s ĝ/ĝ′ = −s²/2.
struct InverseSquare {
  template <class S> S operator()(const S& r) const { return S(1) / (r * r); }
  template <class S> S potential(const S& s) const { return -s * s / S(2); }
  static std::string name() { return "inverse_square"; }
};

/// F(X) = U g(VᵀX) with U ∈ R^{m×r}, V ∈ R^{n×r}, g(z) = h(‖z‖)z on each row z of VᵀX.
/// Implements the model interface of symflow::Mlp (forward with a pass, backward, cast), so that
/// Objective<RadialFactorization<…>, Loss> gives L, ∇L, Hv and H.
template <class Scalar_, class Profile, int n, int r, int m>
class RadialFactorization {
 public:
  using Scalar = Scalar_;
  using ProfileType = Profile;
  static constexpr int depth = 2;
  static constexpr std::array<int, 3> static_widths{n, r, m};
  static constexpr bool has_bias = false;
  static constexpr bool is_fixed = n != Dynamic && r != Dynamic && m != Dynamic;
  static constexpr int num_params = add_sizes(mul_sizes(m, r), mul_sizes(n, r));
  static constexpr int input_width = n;
  static constexpr int output_width = m;
  using Params = Eigen::Matrix<Scalar, num_params, 1>;
  template <int I, int K> using Features = Eigen::Matrix<Scalar, static_widths[I], K>;
  template <class S> using Rebind = RadialFactorization<S, Profile, n, r, m>;
  using OutWeight = Eigen::Matrix<Scalar, m, r>;
  using InWeight = Eigen::Matrix<Scalar, n, r>;

  explicit RadialFactorization(Profile h = {})
    requires is_fixed
      : RadialFactorization(std::array<Index, 3>{n, r, m}, std::move(h)) {}
  /// Widths (n, r, m) at run time; each must match the compile-time width where that is fixed.
  explicit RadialFactorization(const std::array<Index, 3>& widths, Profile h = {})
      : widths_(widths), profile_(std::move(h)) {
    for (int i = 0; i < 3; ++i) {
      if (widths_[i] <= 0 || (static_widths[i] != Dynamic && widths_[i] != static_widths[i]))
        throw std::invalid_argument("symflow::RadialFactorization: width " + std::to_string(i) + " is " +
                                    std::to_string(widths_[i]) + ", expected " +
                                    (static_widths[i] == Dynamic ? std::string("a positive number")
                                                                 : std::to_string(static_widths[i])));
    }
  }

  template <class S>
  Rebind<S> cast() const { return Rebind<S>(widths_, profile_); }

  Index width(int i) const { return widths_[i]; }
  Index input_size() const { return widths_[0]; }
  Index rank() const { return widths_[1]; }
  Index output_size() const { return widths_[2]; }
  Index size() const { return widths_[2] * widths_[1] + widths_[0] * widths_[1]; }
  const Profile& profile() const { return profile_; }
  Params zero_params() const { return Params::Zero(size()); }

  /// U ∈ R^{m×r} as a view into θ.
  template <class D> Eigen::Map<OutWeight> u(Eigen::MatrixBase<D>& p) const {
    check_params(p);
    return {p.derived().data(), widths_[2], widths_[1]};
  }
  template <class D> Eigen::Map<const OutWeight> u(const Eigen::MatrixBase<D>& p) const {
    check_params(p);
    return {p.derived().data(), widths_[2], widths_[1]};
  }
  /// V ∈ R^{n×r} as a view into θ.
  template <class D> Eigen::Map<InWeight> v(Eigen::MatrixBase<D>& p) const {
    check_params(p);
    return {p.derived().data() + widths_[2] * widths_[1], widths_[0], widths_[1]};
  }
  template <class D> Eigen::Map<const InWeight> v(const Eigen::MatrixBase<D>& p) const {
    check_params(p);
    return {p.derived().data() + widths_[2] * widths_[1], widths_[0], widths_[1]};
  }

  template <class D>
  void check_params(const Eigen::MatrixBase<D>& p) const {
    static_assert(D::ColsAtCompileTime == 1, "symflow: parameters are a column vector");
    static_assert(std::is_same_v<typename D::Scalar, Scalar>,
                  "symflow: the parameter vector's scalar type differs from the model's");
    detail::require_length("parameter vector θ", size(), p.size());
  }
  template <class D>
  void check_input(const Eigen::MatrixBase<D>& x) const {
    if (x.rows() != widths_[0])
      throw std::invalid_argument("symflow: input X has shape " + detail::shape_string(x.rows(), x.cols()) +
                                  ", expected " + std::to_string(widths_[0]) + " rows (samples are columns)");
  }

  /// Z = VᵀX, A = g(Z) row by row, F = U A.
  template <int K>
  struct ForwardPass {
    Features<0, K> x;
    Features<1, K> z, a;
    Features<2, K> f;
    const Features<2, K>& output() const { return f; }
  };

  template <int K, class DP, class DX>
  void forward(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DX>& x, ForwardPass<K>& pass) const {
    check_input(x);
    pass.x = x;
    pass.z.noalias() = v(p).transpose() * x;
    pass.a.resize(pass.z.rows(), pass.z.cols());
    for (Index i = 0; i < pass.z.rows(); ++i) {
      using std::sqrt;
      const Scalar norm = sqrt(pass.z.row(i).squaredNorm());
      pass.a.row(i) = Scalar(profile_(norm)) * pass.z.row(i);
    }
    pass.f.noalias() = u(p) * pass.a;
  }

  template <class DP, class DX>
  Features<2, DX::ColsAtCompileTime> forward(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DX>& x) const {
    ForwardPass<DX::ColsAtCompileTime> pass;
    forward(p, x, pass);
    return pass.f;
  }

  /// ∇U = G Aᵀ; ∂L/∂z_i = h(ρ) a_i + h′(ρ)/ρ (z_i·a_i) z_i with a = UᵀG (row i), ρ = ‖z_i‖;
  /// ∇V = X (∂L/∂Z)ᵀ; ∂L/∂X = V ∂L/∂Z.
  template <int K, class DP, class DG>
  void backward(const Eigen::MatrixBase<DP>& p, const ForwardPass<K>& pass, const Features<2, K>& g,
                Eigen::MatrixBase<DG>& grad, Features<0, K>* input_gradient = nullptr) const {
    check_params(grad);
    u(grad).noalias() = g * pass.a.transpose();
    Features<1, K> back = u(p).transpose() * g;
    for (Index i = 0; i < back.rows(); ++i) {
      using std::sqrt;
      const Scalar rho = sqrt(pass.z.row(i).squaredNorm());
      const Dual<Scalar> hr = profile_(Dual<Scalar>(rho, Scalar(1)));
      const Scalar along = pass.z.row(i).dot(back.row(i));
      back.row(i) *= hr.value;
      if (rho > Scalar(0)) back.row(i) += (hr.eps / rho * along) * pass.z.row(i);
    }
    v(grad).noalias() = pass.x * back.transpose();
    if (input_gradient) input_gradient->noalias() = v(p) * back;
  }

 private:
  std::array<Index, 3> widths_{};
  Profile profile_;
};

namespace detail {

template <class P, class S>
concept HasProfilePotential = requires(const P& h, const S& s) {
  { h.potential(s) } -> std::convertible_to<S>;
};

/// ĝ(x)/ĝ′(x) for ĝ(x) = h(x)x at x > 0: h x / (h + x h′), h′ by dual numbers.
template <class P, class S>
S profile_ratio(const P& h, const S& x) {
  const Dual<S> hx = h(Dual<S>(x, S(1)));
  const S slope = hx.value + x * hx.eps;
  if (slope == S(0))
    throw std::domain_error("symflow: the radial profile has ĝ′(x) = 0 at x = " + std::to_string(static_cast<double>(x)) +
                            ", where ∫ĝ/ĝ′ diverges; choose a lower limit on the same side");
  return hx.value * x / slope;
}

}  // namespace detail

/// Ψ(s) = ∫_{s₀}^{s} ĝ(x)/ĝ′(x) dx for ĝ(x) = h(x)x: the profile's own `potential(s)` (with s₀ = 0)
/// when it has one, adaptive Gauss–Kronrod quadrature otherwise. Dual arguments get the exact
/// ε-part ĝ/ĝ′(s)·ε.
template <class P, class S>
S profile_potential(const P& h, const S& s, double lower = 0.0, const QuadratureOptions& options = {}) {
  if constexpr (is_dual_v<S>) {
    return S(profile_potential(h, s.value, lower, options), detail::profile_ratio(h, s.value) * s.eps);
  } else if constexpr (detail::HasProfilePotential<P, S>) {
    return h.potential(s) - h.potential(S(lower));
  } else {
    return integrate([&h](const S& x) { return detail::profile_ratio(h, x); }, S(lower), s, options);
  }
}

/// The conserved quantity of the radial factorisation (Prop. 14, per column, for any U and V):
/// Q_i = ½‖u_i‖² − Ψ(‖v_i‖), Ψ(s) = ∫_{s₀}^{s} ĝ/ĝ′. For h = r⁻², Q_i = ½(‖u_i‖² + ‖v_i‖²) = λ_i/2.
/// Conserved by gradient flow with X orthogonal (X = I in the paper) and any loss of F.
template <class Model>
class RadialFactorizationQuantity {
 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Eigen::Matrix<Scalar, Model::static_widths[1], 1>;
  static constexpr bool is_quadratic = false;

  explicit RadialFactorizationQuantity(Model model, double lower = 0.0, QuadratureOptions options = {})
      : model_(std::move(model)), lower_(lower), options_(options) {}
  const Model& model() const { return model_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    const auto u = model_.u(p);
    const auto v = model_.v(p);
    Value q(u.cols());
    for (Index i = 0; i < u.cols(); ++i) {
      using std::sqrt;
      q[i] = Scalar(0.5) * u.col(i).squaredNorm() -
             profile_potential(model_.profile(), Scalar(sqrt(v.col(i).squaredNorm())), lower_, options_);
    }
    return q;
  }

  template <class S>
  RadialFactorizationQuantity<typename Model::template Rebind<S>> cast() const {
    return RadialFactorizationQuantity<typename Model::template Rebind<S>>(model_.template cast<S>(), lower_, options_);
  }
  static std::string name() { return "radial_factorization_quantity"; }

 private:
  Model model_;
  double lower_;
  QuadratureOptions options_;
};

}  // namespace symflow
