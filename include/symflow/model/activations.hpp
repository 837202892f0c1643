// SPDX-License-Identifier: MIT
#pragma once
/// \file The standard hidden activations. Each is a small object (it may carry a parameter such
/// as a slope) whose members are templates over the scalar type.

#include <cmath>
#include <string>
#include <utility>

#include "symflow/model/activation.hpp"

namespace symflow {

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
  static std::string name() { return "relu"; }
};

/// σ(z) = z for z ≥ 0 and slope·z otherwise. Positively homogeneous of degree 1.
struct LeakyReLU {
  double slope = 0.01;
  template <class S> S value(const S& z) const { return z < S(0) ? S(slope) * z : z; }
  template <class S> S derivative(const S& z) const { return z < S(0) ? S(slope) : S(1); }
  static constexpr double degree() { return 1.0; }
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
