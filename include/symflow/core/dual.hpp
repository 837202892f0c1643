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

// Elementary functions: f(a + bε) = f(a) + f'(a)·b·ε. Found by argument-dependent lookup.
template <class T> Dual<T> exp(const Dual<T>& a) { using std::exp; const T e = exp(a.value); return {e, e * a.eps}; }
template <class T> Dual<T> log(const Dual<T>& a) { using std::log; return {log(a.value), a.eps / a.value}; }
template <class T> Dual<T> log1p(const Dual<T>& a) { using std::log1p; return {log1p(a.value), a.eps / (T(1) + a.value)}; }
template <class T> Dual<T> sqrt(const Dual<T>& a) { using std::sqrt; const T s = sqrt(a.value); return {s, a.eps / (T(2) * s)}; }
template <class T> Dual<T> tanh(const Dual<T>& a) { using std::tanh; const T t = tanh(a.value); return {t, (T(1) - t * t) * a.eps}; }
template <class T> Dual<T> sin(const Dual<T>& a) { using std::sin; using std::cos; return {sin(a.value), cos(a.value) * a.eps}; }
template <class T> Dual<T> cos(const Dual<T>& a) { using std::sin; using std::cos; return {cos(a.value), -sin(a.value) * a.eps}; }
template <class T> Dual<T> abs(const Dual<T>& a) { return a.value < T(0) ? -a : a; }
template <class T> Dual<T> pow(const Dual<T>& a, T p) {
  using std::pow;
  if (a.value == T(0)) return {T(p == T(0) ? 1 : 0), p == T(1) ? a.eps : T(0)};
  const T v = pow(a.value, p);
  return {v, p * pow(a.value, p - T(1)) * a.eps};
}
template <class T> Dual<T> max(const Dual<T>& a, const Dual<T>& b) { return a.value >= b.value ? a : b; }
template <class T> Dual<T> min(const Dual<T>& a, const Dual<T>& b) { return a.value <= b.value ? a : b; }
template <class T> bool isfinite(const Dual<T>& a) { using std::isfinite; return isfinite(a.value) && isfinite(a.eps); }
template <class T> bool isnan(const Dual<T>& a) { using std::isnan; return isnan(a.value) || isnan(a.eps); }
template <class T> bool isinf(const Dual<T>& a) { using std::isinf; return isinf(a.value) || isinf(a.eps); }

/// The real part of a scalar: the identity for real scalars, `.value` for duals.
template <class T> constexpr T real_part(const T& x) { return x; }
template <class T> constexpr T real_part(const Dual<T>& x) { return x.value; }

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
