// SPDX-License-Identifier: MIT
#pragma once
/// \file Forward-mode dual numbers a + b·ε with ε² = 0.
///
/// Pushing θ + εv through the analytic (templated) gradient code gives ∇L(θ) + ε·H(θ)v: an exact
/// Hessian-vector product with no finite-difference step. The type is a full Eigen scalar.

#include <Eigen/Core>

#include <cmath>
#include <ostream>
#include <type_traits>

namespace symflow {

/// Dual number value + eps·ε. Comparisons look at the value only, so piecewise functions
/// (ReLU, max) pick the branch of the value and differentiate within it.
template <class T>
struct Dual {
  T value{0};
  T eps{0};

  constexpr Dual() = default;
  constexpr Dual(T v) : value(v) {}  // NOLINT: implicit from the real scalar, as a scalar type must be
  constexpr Dual(T v, T e) : value(v), eps(e) {}
  template <class U>
    requires(std::is_arithmetic_v<U> && !std::is_same_v<U, T>)
  constexpr Dual(U v) : value(static_cast<T>(v)) {}  // NOLINT

  constexpr Dual& operator+=(const Dual& o) { value += o.value; eps += o.eps; return *this; }
  constexpr Dual& operator-=(const Dual& o) { value -= o.value; eps -= o.eps; return *this; }
  constexpr Dual& operator*=(const Dual& o) { eps = eps * o.value + value * o.eps; value *= o.value; return *this; }
  constexpr Dual& operator/=(const Dual& o) {
    eps = (eps * o.value - value * o.eps) / (o.value * o.value);
    value /= o.value;
    return *this;
  }
  constexpr Dual operator-() const { return {-value, -eps}; }
  constexpr Dual operator+() const { return *this; }
  explicit constexpr operator T() const { return value; }
};

template <class T> constexpr Dual<T> operator+(Dual<T> a, const Dual<T>& b) { return a += b; }
template <class T> constexpr Dual<T> operator-(Dual<T> a, const Dual<T>& b) { return a -= b; }
template <class T> constexpr Dual<T> operator*(Dual<T> a, const Dual<T>& b) { return a *= b; }
template <class T> constexpr Dual<T> operator/(Dual<T> a, const Dual<T>& b) { return a /= b; }
template <class T> constexpr Dual<T> operator+(Dual<T> a, T b) { a.value += b; return a; }
template <class T> constexpr Dual<T> operator+(T b, Dual<T> a) { a.value += b; return a; }
template <class T> constexpr Dual<T> operator-(Dual<T> a, T b) { a.value -= b; return a; }
template <class T> constexpr Dual<T> operator-(T b, const Dual<T>& a) { return {b - a.value, -a.eps}; }
template <class T> constexpr Dual<T> operator*(Dual<T> a, T b) { a.value *= b; a.eps *= b; return a; }
template <class T> constexpr Dual<T> operator*(T b, Dual<T> a) { a.value *= b; a.eps *= b; return a; }
template <class T> constexpr Dual<T> operator/(Dual<T> a, T b) { a.value /= b; a.eps /= b; return a; }
template <class T> constexpr Dual<T> operator/(T b, const Dual<T>& a) { return Dual<T>(b) / a; }

template <class T> constexpr bool operator==(const Dual<T>& a, const Dual<T>& b) { return a.value == b.value; }
template <class T> constexpr bool operator!=(const Dual<T>& a, const Dual<T>& b) { return a.value != b.value; }
template <class T> constexpr bool operator<(const Dual<T>& a, const Dual<T>& b) { return a.value < b.value; }
template <class T> constexpr bool operator>(const Dual<T>& a, const Dual<T>& b) { return a.value > b.value; }
template <class T> constexpr bool operator<=(const Dual<T>& a, const Dual<T>& b) { return a.value <= b.value; }
template <class T> constexpr bool operator>=(const Dual<T>& a, const Dual<T>& b) { return a.value >= b.value; }
template <class T> constexpr bool operator<(const Dual<T>& a, T b) { return a.value < b; }
template <class T> constexpr bool operator>(const Dual<T>& a, T b) { return a.value > b; }
template <class T> constexpr bool operator<=(const Dual<T>& a, T b) { return a.value <= b; }
template <class T> constexpr bool operator>=(const Dual<T>& a, T b) { return a.value >= b; }

template <class T> std::ostream& operator<<(std::ostream& os, const Dual<T>& a) {
  return os << a.value << (a.eps < T(0) ? "-" : "+") << std::abs(a.eps) << "ε";
}

// Elementary functions: f(a + bε) = f(a) + f'(a)·b·ε, found by argument-dependent lookup. The
// <cmath> functions an activation or a loss may reasonably use are all here; code written for
// symflow::Dual must call them unqualified (`using std::erf; erf(x)`): `std::erf(x)` names only
// the standard overloads, which do not take a Dual.
template <class T> Dual<T> exp(const Dual<T>& a) { using std::exp; const T e = exp(a.value); return {e, e * a.eps}; }
template <class T> Dual<T> expm1(const Dual<T>& a) { using std::exp; using std::expm1; return {expm1(a.value), exp(a.value) * a.eps}; }
template <class T> Dual<T> exp2(const Dual<T>& a) {
  using std::exp2;
  const T e = exp2(a.value);
  return {e, e * T(0.693147180559945309417232121458176568L) * a.eps};
}
template <class T> Dual<T> log(const Dual<T>& a) { using std::log; return {log(a.value), a.eps / a.value}; }
template <class T> Dual<T> log1p(const Dual<T>& a) { using std::log1p; return {log1p(a.value), a.eps / (T(1) + a.value)}; }
template <class T> Dual<T> log2(const Dual<T>& a) {
  using std::log2;
  return {log2(a.value), a.eps / (a.value * T(0.693147180559945309417232121458176568L))};
}
template <class T> Dual<T> log10(const Dual<T>& a) {
  using std::log10;
  return {log10(a.value), a.eps / (a.value * T(2.302585092994045684017991454684364208L))};
}
template <class T> Dual<T> sqrt(const Dual<T>& a) { using std::sqrt; const T s = sqrt(a.value); return {s, a.eps / (T(2) * s)}; }
template <class T> Dual<T> cbrt(const Dual<T>& a) { using std::cbrt; const T c = cbrt(a.value); return {c, a.eps / (T(3) * c * c)}; }
template <class T> Dual<T> sin(const Dual<T>& a) { using std::sin; using std::cos; return {sin(a.value), cos(a.value) * a.eps}; }
template <class T> Dual<T> cos(const Dual<T>& a) { using std::sin; using std::cos; return {cos(a.value), -sin(a.value) * a.eps}; }
template <class T> Dual<T> tan(const Dual<T>& a) { using std::tan; const T t = tan(a.value); return {t, (T(1) + t * t) * a.eps}; }
template <class T> Dual<T> asin(const Dual<T>& a) { using std::asin; using std::sqrt; return {asin(a.value), a.eps / sqrt(T(1) - a.value * a.value)}; }
template <class T> Dual<T> acos(const Dual<T>& a) { using std::acos; using std::sqrt; return {acos(a.value), -a.eps / sqrt(T(1) - a.value * a.value)}; }
template <class T> Dual<T> atan(const Dual<T>& a) { using std::atan; return {atan(a.value), a.eps / (T(1) + a.value * a.value)}; }
/// atan2(y, x): d = (x dy − y dx)/(x² + y²).
template <class T> Dual<T> atan2(const Dual<T>& y, const Dual<T>& x) {
  using std::atan2;
  return {atan2(y.value, x.value), (x.value * y.eps - y.value * x.eps) / (x.value * x.value + y.value * y.value)};
}
template <class T> Dual<T> sinh(const Dual<T>& a) { using std::sinh; using std::cosh; return {sinh(a.value), cosh(a.value) * a.eps}; }
template <class T> Dual<T> cosh(const Dual<T>& a) { using std::sinh; using std::cosh; return {cosh(a.value), sinh(a.value) * a.eps}; }
template <class T> Dual<T> tanh(const Dual<T>& a) { using std::tanh; const T t = tanh(a.value); return {t, (T(1) - t * t) * a.eps}; }
template <class T> Dual<T> asinh(const Dual<T>& a) { using std::asinh; using std::sqrt; return {asinh(a.value), a.eps / sqrt(a.value * a.value + T(1))}; }
template <class T> Dual<T> acosh(const Dual<T>& a) { using std::acosh; using std::sqrt; return {acosh(a.value), a.eps / sqrt(a.value * a.value - T(1))}; }
template <class T> Dual<T> atanh(const Dual<T>& a) { using std::atanh; return {atanh(a.value), a.eps / (T(1) - a.value * a.value)}; }
/// erf′(x) = (2/√π) e^{−x²}.
template <class T> Dual<T> erf(const Dual<T>& a) {
  using std::erf;
  using std::exp;
  return {erf(a.value), T(1.128379167095512573896158903121545172L) * exp(-a.value * a.value) * a.eps};
}
template <class T> Dual<T> erfc(const Dual<T>& a) {
  using std::erfc;
  using std::exp;
  return {erfc(a.value), -T(1.128379167095512573896158903121545172L) * exp(-a.value * a.value) * a.eps};
}
template <class T> Dual<T> abs(const Dual<T>& a) { return a.value < T(0) ? -a : a; }
template <class T> Dual<T> fabs(const Dual<T>& a) { return abs(a); }
/// aᵖ for a real exponent (any arithmetic type: pow(x, 2) and pow(x, 0.5) both work); at a = 0 the
/// derivative is taken from the right where it exists (p ≥ 1) and the value is 0ᵖ.
template <class T, class U>
  requires std::is_arithmetic_v<U>
Dual<T> pow(const Dual<T>& a, U exponent) {
  using std::pow;
  // The exponent stays arithmetic at every level, so nested duals (Dual<Dual<T>>) recurse to this
  // same rule down to the real scalar.
  if (exponent == U(0)) return {T(1), T(0)};
  if (a.value == T(0)) return {T(0), exponent == U(1) ? a.eps : T(0)};
  const T v = pow(a.value, exponent);
  return {v, T(exponent) * pow(a.value, exponent - U(1)) * a.eps};
}
/// cᵇ for a real base: d = cᵇ log(c) db.
template <class T, class U>
  requires std::is_arithmetic_v<U>
Dual<T> pow(U base, const Dual<T>& b) {
  using std::log;
  using std::pow;
  const T c = static_cast<T>(base);
  const T v = pow(c, b.value);
  return {v, b.eps == T(0) ? T(0) : v * log(c) * b.eps};
}
/// aᵇ with both dual: d = aᵇ (log(a) db + b da/a); a constant exponent (db = 0) goes through the
/// real-exponent rule, so a ≤ 0 works there.
template <class T> Dual<T> pow(const Dual<T>& a, const Dual<T>& b) {
  if (b.eps == T(0)) return pow(a, b.value);
  using std::log;
  using std::pow;
  const T v = pow(a.value, b.value);
  return {v, v * (log(a.value) * b.eps + b.value * a.eps / a.value)};
}
/// √(a² + b²): d = (a da + b db)/h.
template <class T> Dual<T> hypot(const Dual<T>& a, const Dual<T>& b) {
  using std::hypot;
  const T h = hypot(a.value, b.value);
  return {h, h == T(0) ? T(0) : (a.value * a.eps + b.value * b.eps) / h};
}
template <class T> Dual<T> max(const Dual<T>& a, const Dual<T>& b) { return a.value >= b.value ? a : b; }
template <class T> Dual<T> min(const Dual<T>& a, const Dual<T>& b) { return a.value <= b.value ? a : b; }
template <class T> Dual<T> fmax(const Dual<T>& a, const Dual<T>& b) { return max(a, b); }
template <class T> Dual<T> fmin(const Dual<T>& a, const Dual<T>& b) { return min(a, b); }
// Piecewise constant: derivative 0 (almost everywhere).
template <class T> Dual<T> floor(const Dual<T>& a) { using std::floor; return Dual<T>(floor(a.value)); }
template <class T> Dual<T> ceil(const Dual<T>& a) { using std::ceil; return Dual<T>(ceil(a.value)); }
template <class T> Dual<T> round(const Dual<T>& a) { using std::round; return Dual<T>(round(a.value)); }
template <class T> Dual<T> trunc(const Dual<T>& a) { using std::trunc; return Dual<T>(trunc(a.value)); }
template <class T> bool isfinite(const Dual<T>& a) { using std::isfinite; return isfinite(a.value) && isfinite(a.eps); }
template <class T> bool isnan(const Dual<T>& a) { using std::isnan; return isnan(a.value) || isnan(a.eps); }
template <class T> bool isinf(const Dual<T>& a) { using std::isinf; return isinf(a.value) || isinf(a.eps); }
template <class T> bool signbit(const Dual<T>& a) { using std::signbit; return signbit(a.value); }

/// The real part of a scalar: the identity for real scalars, the innermost `.value` for duals (of
/// duals): real_part(Dual<Dual<double>>) is a double.
template <class T> constexpr T real_part(const T& x) { return x; }
template <class T> constexpr auto real_part(const Dual<T>& x) { return real_part(x.value); }

template <class T> struct is_dual : std::false_type {};
template <class T> struct is_dual<Dual<T>> : std::true_type {};
template <class T> inline constexpr bool is_dual_v = is_dual<T>::value;

}  // namespace symflow

namespace Eigen {
template <class T>
struct NumTraits<symflow::Dual<T>> : NumTraits<T> {
  using Real = symflow::Dual<T>;
  using NonInteger = symflow::Dual<T>;
  using Nested = symflow::Dual<T>;
  using Literal = symflow::Dual<T>;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 2 * NumTraits<T>::ReadCost,
    AddCost = 2 * NumTraits<T>::AddCost,
    MulCost = 3 * NumTraits<T>::MulCost + NumTraits<T>::AddCost
  };
  static inline Real epsilon() { return Real(NumTraits<T>::epsilon()); }
  static inline Real dummy_precision() { return Real(NumTraits<T>::dummy_precision()); }
  static inline Real highest() { return Real(NumTraits<T>::highest()); }
  static inline Real lowest() { return Real(NumTraits<T>::lowest()); }
  static inline int digits10() { return NumTraits<T>::digits10(); }
};
template <class T, typename BinaryOp>
struct ScalarBinaryOpTraits<symflow::Dual<T>, T, BinaryOp> { using ReturnType = symflow::Dual<T>; };
template <class T, typename BinaryOp>
struct ScalarBinaryOpTraits<T, symflow::Dual<T>, BinaryOp> { using ReturnType = symflow::Dual<T>; };
}  // namespace Eigen
