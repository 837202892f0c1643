// SPDX-License-Identifier: MIT
#pragma once
/// \file The standard hidden activations. Each is a small object (it may carry a parameter such
/// as a slope) whose members are templates over the scalar type.

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/model/activation.hpp"

namespace symflow {

namespace detail {

/// Scalars for which the SIMD kernels below are accurate (their constants are double precision).
template <class S>
inline constexpr bool simd_real_v = std::is_same_v<S, float> || std::is_same_v<S, double>;

/// tanh, as an Eigen functor with a SIMD packet path: Cephes' rational approximation
/// z + z³P(z²)/Q(z²) for |z| ≤ 0.625 (full relative precision for small z, no cancellation) and
/// sign(z)(1 − 2/(e^{2|z|} + 1)) above, with Eigen's SIMD exp. Within 3 ulps of the correctly
/// rounded tanh in float and double; ±1 for large |z|, NaN for NaN.
template <class S>
struct TanhKernel {
  // P(s) and Q(s), s = z².
  template <class T> static T p(const T& s) {
    using namespace Eigen::internal;
    return pmadd(pmadd(pset1<T>(S(-9.64399179425052238628e-1)), s, pset1<T>(S(-9.92877231001918586564e1))), s,
                 pset1<T>(S(-1.61468768441708447952e3)));
  }
  template <class T> static T q(const T& s) {
    using namespace Eigen::internal;
    return pmadd(pmadd(padd(s, pset1<T>(S(1.12811678491632931402e2))), s, pset1<T>(S(2.23548839060100448583e3))), s,
                 pset1<T>(S(4.84406305325125486048e3)));
  }
  S operator()(const S& z) const {
    using std::abs;
    using std::exp;
    const S a = abs(z);
    if (!(a > S(0.625))) {
      const S s = z * z;
      return z + z * s * (p(s) / q(s));
    }
    const S far = S(1) - S(2) / (exp(S(2) * a) + S(1));
    return z < S(0) ? -far : far;
  }
  template <class Packet>
  Packet packetOp(const Packet& z) const {
    using namespace Eigen::internal;
    const Packet a = pabs(z);
    const Packet s = pmul(z, z);
    const Packet one = pset1<Packet>(S(1));
    const Packet far_branch = pcmp_lt(pset1<Packet>(S(0.625)), a);
    // One division serves both branches: 2/(e^{2|z|} + 1) far from zero, P/Q near it.
    const Packet r = pdiv(pselect(far_branch, pset1<Packet>(S(2)), p(s)), pselect(far_branch, padd(pexp(padd(a, a)), one), q(s)));
    const Packet far = psub(one, r);
    return pselect(far_branch, pselect(pcmp_lt(z, pzero(z)), pnegate(far), far), pmadd(pmul(z, s), r, z));
  }
};

/// The logistic function, as an Eigen functor with a SIMD packet path: with e = exp(−|z|) (never
/// overflows), 1/(1 + e) for z ≥ 0 and e/(1 + e) for z < 0, both without cancellation. Within 4 ulps
/// wherever σ(z) is a normal number; below that (z < −708 in double, −87 in float) it is 0.
template <class S>
struct SigmoidKernel {
  // log of the smallest normal number, 2^(min_exponent − 1).
  static constexpr S underflow = S(std::numeric_limits<S>::min_exponent - 1) * S(0.6931471805599453);
  S operator()(const S& z) const {
    using std::abs;
    using std::exp;
    const S e = -abs(z) < underflow ? S(0) : exp(-abs(z));
    return (z < S(0) ? e : S(1)) / (S(1) + e);
  }
  template <class Packet>
  Packet packetOp(const Packet& z) const {
    using namespace Eigen::internal;
    const Packet one = pset1<Packet>(S(1));
    const Packet minus_abs = pnegate(pabs(z));
    // Below log(smallest normal) the SIMD exp does not underflow to zero by itself.
    const Packet e = pselect(pcmp_lt(minus_abs, pset1<Packet>(underflow)), pzero(z), pexp(minus_abs));
    return pdiv(pselect(pcmp_lt(z, pzero(z)), e, one), padd(one, e));
  }
};

}  // namespace detail

/// σ(z) = z. Equivariant under all of GL_h.
struct Identity {
  template <class S> S value(const S& z) const { return z; }
  template <class S> S derivative(const S&) const { return S(1); }
  static std::string name() { return "identity"; }
};

/// σ(z) = max(z, 0); NaN passes through. Positively homogeneous of degree 1.
struct ReLU {
  template <class S> S value(const S& z) const { return z < S(0) ? S(0) : z; }
  template <class S> S derivative(const S& z) const { return z > S(0) ? S(1) : S(0); }
  static constexpr double degree() { return 1.0; }
  /// σ(z) = 0·z below the kink at 0 and 1·z above it (used to locate kinks along gradient flow).
  static constexpr std::array<double, 2> kink_slopes() { return {0.0, 1.0}; }
  static std::string name() { return "relu"; }
};

/// σ(z) = z for z ≥ 0 and slope·z otherwise. Positively homogeneous of degree 1.
struct LeakyReLU {
  double slope = 0.01;
  template <class S> S value(const S& z) const { return z < S(0) ? S(slope) * z : z; }
  template <class S> S derivative(const S& z) const { return z < S(0) ? S(slope) : S(1); }
  static constexpr double degree() { return 1.0; }
  /// σ(z) = slope·z below the kink at 0 and z above it (used to locate kinks along gradient flow).
  std::array<double, 2> kink_slopes() const { return {slope, 1.0}; }
  static std::string name() { return "leaky_relu"; }
};

/// σ(z) = max(z, 0)^α with α > 0: positively homogeneous of degree α, σ(gz) = g^α σ(z) for g > 0.
struct Homogeneous {
  double alpha = 2.0;
  template <class S> S value(const S& z) const {
    using std::pow;
    return z > S(0) ? pow(z, static_cast<decltype(real_part(z))>(alpha)) : (z < S(0) ? S(0) : z);
  }
  template <class S> S derivative(const S& z) const {
    using std::pow;
    using R = decltype(real_part(z));
    return z > S(0) ? S(static_cast<R>(alpha)) * pow(z, static_cast<R>(alpha - 1.0)) : S(0);
  }
  double degree() const { return alpha; }
  static std::string name() { return "homogeneous"; }
};

/// σ(z) = tanh z. Has no linear symmetry; use the nonlinear action.
struct Tanh {
  template <class S> S value(const S& z) const { using std::tanh; return tanh(z); }
  template <class S> S derivative(const S& z) const { using std::tanh; const S t = tanh(z); return S(1) - t * t; }
  /// tanh of every entry of an array (SIMD for float and double).
  template <class D> auto values(const Eigen::ArrayBase<D>& z) const {
    using S = typename D::Scalar;
    if constexpr (detail::simd_real_v<S>) return z.unaryExpr(detail::TanhKernel<S>{}).eval();
    else return z.unaryExpr([this](const S& v) { return value(v); }).eval();
  }
  /// tanh'(z) = 1 − a² from a = tanh z.
  template <class DZ, class DA> auto derivatives(const Eigen::ArrayBase<DZ>&, const Eigen::ArrayBase<DA>& a) const {
    using S = typename DA::Scalar;
    return (S(1) - a.square()).eval();
  }
  static std::string name() { return "tanh"; }
};

/// σ(z) = 1 / (1 + e^{-z}). Has no linear symmetry; use the nonlinear action.
struct Sigmoid {
  template <class S> S value(const S& z) const {
    using std::exp;
    // Two branches so that neither exp overflows.
    if (z >= S(0)) return S(1) / (S(1) + exp(-z));
    const S e = exp(z);
    return e / (S(1) + e);
  }
  template <class S> S derivative(const S& z) const { const S s = value(z); return s * (S(1) - s); }
  /// σ of every entry of an array (SIMD for float and double).
  template <class D> auto values(const Eigen::ArrayBase<D>& z) const {
    using S = typename D::Scalar;
    if constexpr (detail::simd_real_v<S>) return z.unaryExpr(detail::SigmoidKernel<S>{}).eval();
    else return z.unaryExpr([this](const S& v) { return value(v); }).eval();
  }
  /// σ'(z) = a(1 − a) from a = σ(z).
  template <class DZ, class DA> auto derivatives(const Eigen::ArrayBase<DZ>&, const Eigen::ArrayBase<DA>& a) const {
    using S = typename DA::Scalar;
    return (a * (S(1) - a)).eval();
  }
  static std::string name() { return "sigmoid"; }
};

/// Radial activation σ(z) = f(‖z‖)·z on a whole hidden column, for a user function f that is
/// written generically (a template or generic lambda), so that f' follows exactly by dual numbers.
/// Equivariant under O(h): σ(gz) = gσ(z) for orthogonal g.
template <class F>
struct Radial {
  F f;

  template <class Derived>
  auto apply(const Eigen::MatrixBase<Derived>& z) const {
    using S = typename Derived::Scalar;
    const S r = z.norm();
    return (S(f(r)) * z).eval();
  }

  /// dσ_zᵀ g = f(r) g + f'(r)/r (zᵀg) z; at r = 0 the second term vanishes (it is O(r)).
  template <class DerivedZ, class DerivedG>
  auto pullback(const Eigen::MatrixBase<DerivedZ>& z, const Eigen::MatrixBase<DerivedG>& g) const {
    using S = typename DerivedZ::Scalar;
    const S r = z.norm();
    const Dual<S> fr = f(Dual<S>(r, S(1)));
    typename DerivedZ::PlainObject out = fr.value * g;
    if (r > S(0)) out += (fr.eps / r * z.dot(g)) * z;
    return out;
  }
  static std::string name() { return "radial"; }
};

template <class F> Radial(F) -> Radial<F>;

/// Radial activation from a generic callable f: `auto s = radial([](auto r) { return 1 / (1 + r); });`
template <class F> Radial<F> radial(F f) { return Radial<F>{std::move(f)}; }

}  // namespace symflow

namespace Eigen::internal {
// Lets Eigen run the kernels a packet at a time (with the scalar operator() for the remainder).
template <class S>
struct functor_traits<symflow::detail::TanhKernel<S>> {
  enum { Cost = 30 * NumTraits<S>::MulCost, PacketAccess = packet_traits<S>::HasExp && packet_traits<S>::HasDiv };
};
template <class S>
struct functor_traits<symflow::detail::SigmoidKernel<S>> {
  enum { Cost = 20 * NumTraits<S>::MulCost, PacketAccess = packet_traits<S>::HasExp && packet_traits<S>::HasDiv };
};
}  // namespace Eigen::internal
