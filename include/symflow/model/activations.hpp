// SPDX-License-Identifier: MIT
#pragma once
/// \file The standard hidden activations. Each is a small object (it may carry a parameter such
/// as a slope) whose members are templates over the scalar type.
///
/// Each activation carries its own facts, which the rest of symflow reads from the type (a user
/// activation provides the same members, and gets the same treatment):
///  - `using equivariance = …`: the largest linear group it is equivariant under (symflow/group/
///    equivariance.hpp), and `degree()` = α for positively homogeneous ones;
///  - `potential(v)` = Φ_σ(v) = ∫_0^v σ/σ′ and `potential_ratio(x)` = σ(x)/σ′(x) in closed form
///    (eq. 48; without them symflow integrates σ/σ′ numerically);
///  - for quadratic potentials Φ(v) = c·v² (or c·max(v, 0)²), `quadratic_potential<T>()` = c and
///    `quadratic_potential_positive_part`, so eq. (48)'s sums over a layer are sums of squares;
///  - `potentials(x, out)`: Φ of a whole array (SIMD), where the closed form allows it;
///  - `gaussian_potential_moments(s²)`: mean and variance of Φ(v) for v ~ N(0, s²) (Appendix E).

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/moments.hpp"
#include "symflow/model/activation.hpp"

namespace symflow {

// The equivariance tags (defined with the group catalogue in symflow/group/equivariance.hpp).
struct GeneralLinearEquivariant;
struct ScalingEquivariant;
struct OrthogonalEquivariant;

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

/// Whether any entry of a comparison mask (pcmp_*) is set: a sign-bit mask for double packets,
/// where Eigen's predux_any adds the entries up. (The packet is recognised by its scalar and size:
/// naming the intrinsic types in a template argument drops their attributes, -Wignored-attributes.)
template <class Packet>
inline bool any_set(const Packet& mask) {
  using namespace Eigen::internal;
  constexpr int size = unpacket_traits<Packet>::size;
  if constexpr (std::is_same_v<typename unpacket_traits<Packet>::type, double>) {
#if defined(EIGEN_VECTORIZE_AVX512)
    if constexpr (size == 8) return _mm512_test_epi64_mask(_mm512_castpd_si512(mask), _mm512_castpd_si512(mask)) != 0;
#endif
#if defined(EIGEN_VECTORIZE_AVX)
    if constexpr (size == 4) return _mm256_movemask_pd(mask) != 0;
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
    if constexpr (size == 2) return _mm_movemask_pd(mask) != 0;
#endif
  }
  return predux_any(mask);
}

/// TanhKernel for whole packets of lanes (flow/batch_objective.hpp): a packet whose entries all lie
/// within |z| ≤ 0.625 takes the rational branch alone, with no exponential; any other packet takes
/// TanhKernel::packetOp. The same operations in both cases, so the same values as TanhKernel
/// entry by entry; the branch only skips an exponential whose result would be discarded.
template <class S>
struct TanhLaneKernel : TanhKernel<S> {
  template <class Packet>
  Packet packetOp(const Packet& z) const {
    using namespace Eigen::internal;
    if (any_set(pcmp_lt(pset1<Packet>(S(0.625)), pabs(z)))) return TanhKernel<S>::packetOp(z);
    const Packet s = pmul(z, z);
    return pmadd(pmul(z, s), pdiv(TanhKernel<S>::p(s), TanhKernel<S>::q(s)), z);
  }
};

/// SigmoidKernel for whole packets of lanes: a packet whose entries all lie within |z| ≤ 1.25
/// takes σ(z) = ½ + ½ tanh(z/2) with tanh's rational branch (one division, no exponential;
/// σ ≥ 0.22 there, so adding ½ costs at most a bit); any other packet takes
/// SigmoidKernel::packetOp. Within 4 ulps, as SigmoidKernel, but not the same bits.
template <class S>
struct SigmoidLaneKernel : SigmoidKernel<S> {
  S operator()(const S& z) const {
    using std::abs;
    if (!(abs(z) <= S(1.25))) return SigmoidKernel<S>::operator()(z);
    const S w = S(0.25) * z, s = S(0.25) * z * z;  // ½·(z/2) and (z/2)²
    return S(0.5) + (w + w * s * (TanhKernel<S>::p(s) / TanhKernel<S>::q(s)));
  }
  template <class Packet>
  Packet packetOp(const Packet& z) const {
    using namespace Eigen::internal;
    if (any_set(pcmp_lt(pset1<Packet>(S(1.25)), pabs(z)))) return SigmoidKernel<S>::packetOp(z);
    const Packet w = pmul(pset1<Packet>(S(0.25)), z);
    const Packet s = pmul(w, z);
    return padd(pset1<Packet>(S(0.5)), pmadd(pmul(w, s), pdiv(TanhKernel<S>::p(s), TanhKernel<S>::q(s)), w));
  }
};

/// e^x − 1 as an Eigen functor with a SIMD packet path (Cephes' expm1): for |x| ≤ 1/2 the rational
/// form 2r/(Q(x²) − r), r = xP(x²), with full relative precision at small x; beyond, e^x − 1 with
/// Eigen's SIMD exp, where the subtraction loses at most two bits. +∞ above log(max), −1 far below 0.
template <class S>
struct Expm1Kernel {
  static constexpr S overflow = S(std::numeric_limits<S>::max_exponent) * S(0.6931471805599453);
  template <class T> static T p(const T& s) {
    using namespace Eigen::internal;
    return pmadd(pmadd(pset1<T>(S(1.2617719307481059087798e-4)), s, pset1<T>(S(3.0299440770744196129956e-2))), s,
                 pset1<T>(S(9.9999999999999999991025e-1)));
  }
  template <class T> static T q(const T& s) {
    using namespace Eigen::internal;
    return pmadd(pmadd(pmadd(pset1<T>(S(3.0019850513866445504159e-6)), s, pset1<T>(S(2.5244834034968410419224e-3))), s,
                       pset1<T>(S(2.2726554820815502876593e-1))),
                 s, pset1<T>(S(2.0000000000000000000897e0)));
  }
  S operator()(const S& x) const {
    using std::abs;
    using std::exp;
    if (abs(x) > S(0.5)) return x > overflow ? std::numeric_limits<S>::infinity() : exp(x) - S(1);
    const S r = x * p(x * x);
    return S(2) * r / (q(x * x) - r);
  }
  template <class Packet>
  Packet packetOp(const Packet& x) const {
    using namespace Eigen::internal;
    const Packet s = pmul(x, x);
    const Packet r = pmul(x, p(s));
    const Packet near = pdiv(padd(r, r), psub(q(s), r));
    const Packet far = psub(pexp(x), pset1<Packet>(S(1)));
    const Packet value = pselect(pcmp_lt(pset1<Packet>(S(0.5)), pabs(x)), far, near);
    return pselect(pcmp_lt(pset1<Packet>(overflow), x), pset1<Packet>(std::numeric_limits<S>::infinity()), value);
  }
};

/// Φ of tanh (eq. 48) as an Eigen functor with a SIMD packet path: Φ(v) = ½ sinh²|v| with
/// sinh a = e(e + 2)/(2(e + 1)), e = e^a − 1 ≥ 0 for a = |v| (Expm1Kernel), so nothing cancels at any v.
template <class S>
struct TanhPotentialKernel {
  S operator()(const S& v) const {
    using std::abs;
    const S e = Expm1Kernel<S>{}(abs(v)), t = e * (e + S(2)) / (e + S(1));
    return S(0.125) * (t * t);
  }
  template <class Packet>
  Packet packetOp(const Packet& v) const {
    using namespace Eigen::internal;
    const Packet e = Expm1Kernel<S>{}.packetOp(pabs(v));
    const Packet t = pdiv(pmul(e, padd(e, pset1<Packet>(S(2)))), padd(e, pset1<Packet>(S(1))));
    return pmul(pset1<Packet>(S(0.125)), pmul(t, t));
  }
};

}  // namespace detail

/// σ(z) = z. Equivariant under all of GL_h.
struct Identity {
  using equivariance = GeneralLinearEquivariant;
  template <class S> S value(const S& z) const { return z; }
  template <class S> S derivative(const S&) const { return S(1); }
  /// σ/σ′ = x, Φ(v) = v²/2.
  template <class S> S potential_ratio(const S& x) const { return x; }
  template <class S> S potential(const S& v) const { return v * v / S(2); }
  template <class T> T quadratic_potential() const { return T(0.5); }
  static constexpr bool quadratic_potential_positive_part = false;
  static Moments gaussian_potential_moments(double s2) { return {s2 / 2, s2 * s2 / 2}; }
  static std::string name() { return "identity"; }
};

/// σ(z) = max(z, 0); NaN passes through. Positively homogeneous of degree 1.
struct ReLU {
  using equivariance = ScalingEquivariant;
  template <class S> S value(const S& z) const { return z < S(0) ? S(0) : z; }
  template <class S> S derivative(const S& z) const { return z > S(0) ? S(1) : S(0); }
  static constexpr double degree() { return 1.0; }
  /// σ/σ′ = max(x, 0) (0/0 read as 0: such weights never move), Φ(v) = max(v, 0)²/2.
  template <class S> S potential_ratio(const S& x) const { return x > S(0) ? x : S(0); }
  template <class S> S potential(const S& v) const { return v > S(0) ? v * v / S(2) : S(0); }
  template <class T> T quadratic_potential() const { return T(0.5); }
  static constexpr bool quadratic_potential_positive_part = true;
  /// E max(v, 0)²/2 = s²/4; E max(v, 0)⁴/4 = 3s⁴/8, so Var = 3s⁴/8 − s⁴/16.
  static Moments gaussian_potential_moments(double s2) { return {s2 / 4, 5 * (s2 * s2) / 16}; }
  /// σ(z) = 0·z below the kink at 0 and 1·z above it (used to locate kinks along gradient flow).
  static constexpr std::array<double, 2> kink_slopes() { return {0.0, 1.0}; }
  static std::string name() { return "relu"; }
};

/// σ(z) = z for z ≥ 0 and slope·z otherwise. Positively homogeneous of degree 1.
struct LeakyReLU {
  using equivariance = ScalingEquivariant;
  double slope = 0.01;
  template <class S> S value(const S& z) const { return z < S(0) ? S(slope) * z : z; }
  template <class S> S derivative(const S& z) const { return z < S(0) ? S(slope) : S(1); }
  static constexpr double degree() { return 1.0; }
  /// σ/σ′ = x on both sides, Φ(v) = v²/2.
  template <class S> S potential_ratio(const S& x) const { return x; }
  template <class S> S potential(const S& v) const { return v * v / S(2); }
  template <class T> T quadratic_potential() const { return T(0.5); }
  static constexpr bool quadratic_potential_positive_part = false;
  static Moments gaussian_potential_moments(double s2) { return {s2 / 2, s2 * s2 / 2}; }
  /// σ(z) = slope·z below the kink at 0 and z above it (used to locate kinks along gradient flow).
  std::array<double, 2> kink_slopes() const { return {slope, 1.0}; }
  static std::string name() { return "leaky_relu"; }
};

/// σ(z) = max(z, 0)^α with α > 0: positively homogeneous of degree α, σ(gz) = g^α σ(z) for g > 0.
struct Homogeneous {
  using equivariance = ScalingEquivariant;
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
  /// σ/σ′ = max(x, 0)/α, Φ(v) = max(v, 0)²/(2α).
  template <class S> S potential_ratio(const S& x) const { return x > S(0) ? x / S(alpha) : S(0); }
  template <class S> S potential(const S& v) const { return v > S(0) ? v * v / (S(2) * S(alpha)) : S(0); }
  template <class T> T quadratic_potential() const { return T(0.5) / T(alpha); }
  static constexpr bool quadratic_potential_positive_part = true;
  /// The ReLU moments with Φ divided by α.
  Moments gaussian_potential_moments(double s2) const {
    const double s4 = s2 * s2;
    return {s2 / (4 * alpha), 5 * s4 / (16 * alpha * alpha)};
  }
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
  /// σ/σ′ = sinh(2x)/2, Φ(v) = sinh²(v)/2.
  template <class S> S potential_ratio(const S& x) const {
    using std::exp;
    const S e = exp(S(2) * x);
    return (e - S(1) / e) / S(4);
  }
  template <class S> S potential(const S& v) const {
    using std::sinh;
    const S s = sinh(v);
    return s * s / S(2);
  }
  /// Φ of every entry of x into out (float and double, SIMD; detail::TanhPotentialKernel).
  template <class DX, class Out>
    requires detail::simd_real_v<typename DX::Scalar>
  void potentials(const Eigen::ArrayBase<DX>& x, Out&& out) const {
    out = x.unaryExpr(detail::TanhPotentialKernel<typename DX::Scalar>{});
  }
  /// Φ = (cosh 2v − 1)/4: E = (e^{2s²} − 1)/4, Var = (e^{4s²} − 1)²/32.
  static Moments gaussian_potential_moments(double s2) {
    const double e = std::expm1(4 * s2);
    return {std::expm1(2 * s2) / 4, e * e / 32};
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
  /// σ/σ′ = 1 + eˣ, Φ(v) = v + eᵛ − 1.
  template <class S> S potential_ratio(const S& x) const {
    using std::exp;
    return S(1) + exp(x);
  }
  template <class S> S potential(const S& v) const {
    using std::expm1;
    return v + expm1(v);
  }
  /// Φ of every entry of x into out (float and double, SIMD).
  template <class DX, class Out>
    requires detail::simd_real_v<typename DX::Scalar>
  void potentials(const Eigen::ArrayBase<DX>& x, Out&& out) const {
    out = x + x.unaryExpr(detail::Expm1Kernel<typename DX::Scalar>{});
  }
  /// Φ = v + eᵛ − 1: E = e^{s²/2} − 1, Var = s² + e^{2s²} − e^{s²} + 2s² e^{s²/2} (Cov(v, eᵛ) = s² e^{s²/2}
  /// by Stein).
  static Moments gaussian_potential_moments(double s2) {
    return {std::expm1(s2 / 2), s2 + std::exp(s2) * std::expm1(s2) + 2 * s2 * std::exp(s2 / 2)};
  }
  static std::string name() { return "sigmoid"; }
};

/// Radial activation σ(z) = f(‖z‖)·z on a whole hidden column, for a user function f that is
/// written generically (a template or generic lambda), so that f' follows exactly by dual numbers.
/// Equivariant under O(h): σ(gz) = gσ(z) for orthogonal g.
template <class F>
struct Radial {
  using equivariance = OrthogonalEquivariant;
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
template <class S>
struct functor_traits<symflow::detail::TanhLaneKernel<S>> : functor_traits<symflow::detail::TanhKernel<S>> {};
template <class S>
struct functor_traits<symflow::detail::SigmoidLaneKernel<S>> : functor_traits<symflow::detail::SigmoidKernel<S>> {};
template <class S>
struct functor_traits<symflow::detail::Expm1Kernel<S>> {
  enum { Cost = 20 * NumTraits<S>::MulCost, PacketAccess = packet_traits<S>::HasExp && packet_traits<S>::HasDiv };
};
template <class S>
struct functor_traits<symflow::detail::TanhPotentialKernel<S>> : functor_traits<symflow::detail::Expm1Kernel<S>> {};
}  // namespace Eigen::internal
