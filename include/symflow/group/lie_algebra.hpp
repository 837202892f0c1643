// SPDX-License-Identifier: MIT
#pragma once
/// \file The matrix Lie algebras that act on a hidden layer of width h, with their groups:
///
///  - gl(h) = R^{h×h}, group GL_h (invertible matrices): GeneralLinearAlgebra;
///  - the diagonal algebra R^h, group (R_{>0})^h of positive scalings g = diag(c), c_k > 0:
///    DiagonalAlgebra (elements and group elements are stored as the diagonal vector);
///  - so(h) = {M : Mᵀ = −M}, group O(h) (exp reaches SO(h), the identity component):
///    OrthogonalAlgebra.
///
/// Each gives its dimension, a basis, coordinates in that basis, random elements drawn from a
/// generator the caller passes, and exp: closed forms where they exist (diagonal; gl(1), gl(2);
/// so(2), so(3) by Rodrigues' formula), Eigen's MatrixFunctions (scaling and squaring Padé)
/// otherwise.

#include <cmath>
#include <concepts>
#include <random>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "symflow/core/config.hpp"
#include "symflow/core/matrix_functions.hpp"

namespace symflow {

namespace detail {

/// Largest compile-time size kept fixed for square h×h matrices: beyond it a fixed-size matrix would
/// not fit comfortably on the stack (64² doubles = 32 KiB), so the type falls back to Dynamic.
inline constexpr int max_fixed_square = 64;

/// h if a fixed h×h matrix is reasonable, Dynamic otherwise.
constexpr int square_size(int h) { return (h == Dynamic || h > max_fixed_square) ? Dynamic : h; }

/// A fixed length n if n is known and small enough, Dynamic otherwise.
constexpr int vector_size(int n) {
  return (n == Dynamic || n > max_fixed_square * max_fixed_square) ? Dynamic : n;
}

constexpr int gl_dimension(int h) { return h == Dynamic ? Dynamic : h * h; }
constexpr int so_dimension(int h) { return h == Dynamic ? Dynamic : h * (h - 1) / 2; }

inline void check_basis_index(Index i, Index dimension) {
  if (i < 0 || i >= dimension)
    throw std::out_of_range("symflow: basis index " + std::to_string(i) + " is out of range; the algebra has dimension " +
                            std::to_string(dimension));
}

inline void check_algebra_size(Index h) {
  if (h <= 0) throw std::invalid_argument("symflow: a Lie algebra of h×h matrices needs h > 0, got h = " + std::to_string(h));
}

/// sinh(s)/s and sin(s)/s, accurate near s = 0.
template <class S>
S sinhc(const S& s) {
  using std::abs;
  using std::sinh;
  return abs(s) < S(1e-4) ? S(1) + s * s / S(6) : sinh(s) / s;
}
template <class S>
S sinc(const S& s) {
  using std::abs;
  using std::sin;
  return abs(s) < S(1e-4) ? S(1) - s * s / S(6) : sin(s) / s;
}
/// (1 − cos s)/s², accurate near s = 0.
template <class S>
S versinc(const S& s) {
  using std::abs;
  using std::sin;
  if (abs(s) < S(1e-4)) return S(0.5) - s * s / S(24);
  const S half = sin(s / S(2)) / s;
  return S(2) * half * half;  // 1 − cos s = 2 sin²(s/2), no cancellation
}

}  // namespace detail

/// A Lie algebra of h×h matrices with its group: the members every algebra type provides.
template <class A>
concept LieAlgebra = requires(const A& a, const typename A::Element& m, const typename A::Coordinates& c,
                              std::mt19937_64& rng, Index i) {
  typename A::Scalar;
  typename A::Element;
  typename A::GroupElement;
  typename A::Coordinates;
  { a.dimension() } -> std::convertible_to<Index>;
  { a.zero() } -> std::convertible_to<typename A::Element>;
  { a.identity() } -> std::convertible_to<typename A::GroupElement>;
  { a.basis(i) } -> std::convertible_to<typename A::Element>;
  { a.coordinates(m) } -> std::convertible_to<typename A::Coordinates>;
  { a.from_coordinates(c) } -> std::convertible_to<typename A::Element>;
  { a.random(rng) } -> std::convertible_to<typename A::Element>;
  { a.exp(m) } -> std::convertible_to<typename A::GroupElement>;
};

/// gl(h) = R^{h×h}; exp lands in GL_h. Basis E_kl (a one in row k, column l), ordered column-major,
/// so that coordinates(M) = vec(M).
template <class Scalar_, int H = Dynamic>
class GeneralLinearAlgebra {
 public:
  using Scalar = Scalar_;
  static constexpr int size_at_compile_time = detail::square_size(H);
  using Element = Eigen::Matrix<Scalar, size_at_compile_time, size_at_compile_time>;
  using GroupElement = Element;
  using Coordinates = Eigen::Matrix<Scalar, detail::vector_size(detail::gl_dimension(size_at_compile_time)), 1>;

  GeneralLinearAlgebra()
    requires(H != Dynamic)
      : h_(H) {}
  explicit GeneralLinearAlgebra(Index h) : h_(h) {
    detail::check_algebra_size(h);
    if (H != Dynamic && h != H)
      throw std::invalid_argument("symflow: gl(h) with h = " + std::to_string(h) + ", but the type fixes h = " +
                                  std::to_string(H));
  }

  /// h, the size of the matrices.
  Index size() const { return h_; }
  /// h².
  Index dimension() const { return h_ * h_; }
  Element zero() const { return Element::Zero(h_, h_); }
  GroupElement identity() const { return GroupElement::Identity(h_, h_); }
  /// The matrix of an element (the element itself).
  Element matrix(const Element& m) const { return m; }

  /// E_kl with i = k + l·h.
  Element basis(Index i) const {
    detail::check_basis_index(i, dimension());
    Element e = zero();
    e(i % h_, i / h_) = Scalar(1);
    return e;
  }
  /// vec(M), column-major.
  Coordinates coordinates(const Element& m) const {
    detail::require_shape("gl(h) element", h_, h_, m.rows(), m.cols());
    return Eigen::Map<const Coordinates>(m.data(), dimension());
  }
  Element from_coordinates(const Coordinates& c) const {
    detail::require_length("gl(h) coordinates", dimension(), c.size());
    return Eigen::Map<const Element>(c.data(), h_, h_);
  }

  /// A random element with i.i.d. N(0, stddev²) entries, drawn from `rng`.
  template <class Rng>
  Element random(Rng& rng, double stddev = 1.0) const {
    std::normal_distribution<double> normal(0.0, stddev);
    Element m(h_, h_);
    for (Index j = 0; j < h_; ++j)
      for (Index i = 0; i < h_; ++i) m(i, j) = static_cast<Scalar>(normal(rng));
    return m;
  }

  /// Every square matrix is in gl(h).
  bool contains(const Element& m, Scalar = Scalar(0)) const { return m.rows() == h_ && m.cols() == h_; }
  /// g ∈ GL_h: g is invertible, judged by the ratio of smallest to largest LU pivot and the LU
  /// reciprocal condition estimate both being above tol.
  bool group_contains(const GroupElement& g, Scalar tol = Eigen::NumTraits<Scalar>::epsilon()) const {
    if (g.rows() != h_ || g.cols() != h_ || !g.allFinite()) return false;
    const auto lu = detail::lu_factorization(g);
    const auto pivots = lu.matrixLU().diagonal().cwiseAbs();
    return pivots.minCoeff() > tol * pivots.maxCoeff() && lu.rcond() > tol;
  }

  /// The matrix exponential: closed forms for h = 1 and h = 2, Padé scaling and squaring otherwise.
  GroupElement exp(const Element& m) const {
    detail::require_shape("gl(h) element", h_, h_, m.rows(), m.cols());
    using std::exp;
    using std::sqrt;
    if (h_ == 1) return GroupElement::Constant(1, 1, exp(m(0, 0)));
    // (Compiled only where h can be 2: for a fixed h = 1 the branch is dead, and g++ would warn on it.)
    if constexpr (Element::RowsAtCompileTime == Dynamic || Element::RowsAtCompileTime == 2) if (h_ == 2) {
      // M = τI + N with N traceless; N² = δI, δ = −det N, so exp(N) = c(δ) I + s(δ) N.
      const Scalar tau = m.trace() / Scalar(2);
      Element n = m;
      n.diagonal().array() -= tau;
      const Scalar delta = -(n(0, 0) * n(1, 1) - n(0, 1) * n(1, 0));
      Scalar c, s;
      if (delta >= Scalar(0)) {
        using std::cosh;
        const Scalar r = sqrt(delta);
        c = cosh(r);
        s = detail::sinhc(r);
      } else {
        using std::cos;
        const Scalar r = sqrt(-delta);
        c = cos(r);
        s = detail::sinc(r);
      }
      GroupElement g = s * n;
      g.diagonal().array() += c;
      return exp(tau) * g;
    }
    return detail::matrix_exp(m);
  }

 private:
  Index h_;
};

/// The diagonal algebra: M = diag(m), m ∈ R^h, stored as the vector m; exp(M) = diag(e^m) lies in the
/// positive scaling group (R_{>0})^h, whose elements are stored as their diagonal c (c_k > 0).
/// Basis E_kk, so coordinates(m) = m.
template <class Scalar_, int H = Dynamic>
class DiagonalAlgebra {
 public:
  using Scalar = Scalar_;
  static constexpr int size_at_compile_time = detail::vector_size(H);
  using Element = Eigen::Matrix<Scalar, size_at_compile_time, 1>;
  using GroupElement = Element;
  using Coordinates = Element;

  DiagonalAlgebra()
    requires(H != Dynamic)
      : h_(H) {}
  explicit DiagonalAlgebra(Index h) : h_(h) {
    detail::check_algebra_size(h);
    if (H != Dynamic && h != H)
      throw std::invalid_argument("symflow: diagonal algebra with h = " + std::to_string(h) +
                                  ", but the type fixes h = " + std::to_string(H));
  }

  Index size() const { return h_; }
  /// h.
  Index dimension() const { return h_; }
  Element zero() const { return Element::Zero(h_); }
  /// The vector of ones (the identity matrix's diagonal).
  GroupElement identity() const { return GroupElement::Ones(h_); }
  /// diag(m) as an h×h matrix.
  Eigen::Matrix<Scalar, detail::square_size(H), detail::square_size(H)> matrix(const Element& m) const {
    return m.asDiagonal();
  }

  /// E_kk, k = i.
  Element basis(Index i) const {
    detail::check_basis_index(i, dimension());
    Element e = zero();
    e[i] = Scalar(1);
    return e;
  }
  Coordinates coordinates(const Element& m) const {
    detail::require_length("diagonal algebra element", h_, m.size());
    return m;
  }
  Element from_coordinates(const Coordinates& c) const {
    detail::require_length("diagonal algebra coordinates", h_, c.size());
    return c;
  }

  /// A random element with i.i.d. N(0, stddev²) entries, drawn from `rng`.
  template <class Rng>
  Element random(Rng& rng, double stddev = 1.0) const {
    std::normal_distribution<double> normal(0.0, stddev);
    Element m(h_);
    for (Index i = 0; i < h_; ++i) m[i] = static_cast<Scalar>(normal(rng));
    return m;
  }

  bool contains(const Element& m, Scalar = Scalar(0)) const { return m.size() == h_; }
  /// g ∈ (R_{>0})^h: every factor is positive and finite.
  bool group_contains(const GroupElement& g, Scalar = Scalar(0)) const {
    return g.size() == h_ && g.allFinite() && (g.array() > Scalar(0)).all();
  }

  /// e^m entry by entry (exact: the exponential of a diagonal matrix).
  GroupElement exp(const Element& m) const {
    detail::require_length("diagonal algebra element", h_, m.size());
    return m.array().exp().matrix();
  }

 private:
  Index h_;
};

/// so(h) = {M ∈ R^{h×h} : Mᵀ = −M}; exp lands in SO(h) ⊂ O(h). Basis E_kl − E_lk for k < l, ordered
/// by l then k: (0,1), (0,2), (1,2), (0,3), …; coordinates(M) lists M_kl (k < l) in that order.
template <class Scalar_, int H = Dynamic>
class OrthogonalAlgebra {
 public:
  using Scalar = Scalar_;
  static constexpr int size_at_compile_time = detail::square_size(H);
  using Element = Eigen::Matrix<Scalar, size_at_compile_time, size_at_compile_time>;
  using GroupElement = Element;
  using Coordinates = Eigen::Matrix<Scalar, detail::vector_size(detail::so_dimension(size_at_compile_time)), 1>;

  OrthogonalAlgebra()
    requires(H != Dynamic)
      : h_(H) {}
  explicit OrthogonalAlgebra(Index h) : h_(h) {
    detail::check_algebra_size(h);
    if (H != Dynamic && h != H)
      throw std::invalid_argument("symflow: so(h) with h = " + std::to_string(h) + ", but the type fixes h = " +
                                  std::to_string(H));
  }

  Index size() const { return h_; }
  /// h(h − 1)/2.
  Index dimension() const { return h_ * (h_ - 1) / 2; }
  Element zero() const { return Element::Zero(h_, h_); }
  GroupElement identity() const { return GroupElement::Identity(h_, h_); }
  Element matrix(const Element& m) const { return m; }

  /// E_kl − E_lk for the i-th pair k < l.
  Element basis(Index i) const {
    detail::check_basis_index(i, dimension());
    Index l = 1;
    while (l * (l + 1) / 2 <= i) ++l;
    const Index k = i - l * (l - 1) / 2;
    Element e = zero();
    e(k, l) = Scalar(1);
    e(l, k) = Scalar(-1);
    return e;
  }
  /// M_kl for k < l; only the strict upper triangle is read.
  Coordinates coordinates(const Element& m) const {
    detail::require_shape("so(h) element", h_, h_, m.rows(), m.cols());
    Coordinates c(dimension());
    Index i = 0;
    for (Index l = 1; l < h_; ++l)
      for (Index k = 0; k < l; ++k) c[i++] = m(k, l);
    return c;
  }
  Element from_coordinates(const Coordinates& c) const {
    detail::require_length("so(h) coordinates", dimension(), c.size());
    Element m = zero();
    Index i = 0;
    for (Index l = 1; l < h_; ++l)
      for (Index k = 0; k < l; ++k) {
        m(k, l) = c[i];
        m(l, k) = -c[i];
        ++i;
      }
    return m;
  }

  /// A random skew-symmetric matrix whose entries above the diagonal are i.i.d. N(0, stddev²).
  template <class Rng>
  Element random(Rng& rng, double stddev = 1.0) const {
    std::normal_distribution<double> normal(0.0, stddev);
    Coordinates c(dimension());
    for (Index i = 0; i < c.size(); ++i) c[i] = static_cast<Scalar>(normal(rng));
    return from_coordinates(c);
  }

  /// ‖M + Mᵀ‖ ≤ tol·‖M‖.
  bool contains(const Element& m, Scalar tol = Eigen::NumTraits<Scalar>::dummy_precision()) const {
    return m.rows() == h_ && m.cols() == h_ && (m + m.transpose()).norm() <= tol * m.norm();
  }
  /// ‖gᵀg − I‖ ≤ tol.
  bool group_contains(const GroupElement& g, Scalar tol = Eigen::NumTraits<Scalar>::dummy_precision()) const {
    return g.rows() == h_ && g.cols() == h_ && g.allFinite() && (g.transpose() * g - identity()).norm() <= tol;
  }

  /// exp(M): rotation by the angle M_10 for h = 2, Rodrigues' formula for h = 3, Padé scaling and
  /// squaring otherwise (orthogonal to rounding).
  GroupElement exp(const Element& m) const {
    detail::require_shape("so(h) element", h_, h_, m.rows(), m.cols());
    using std::cos;
    using std::sin;
    using std::sqrt;
    if (h_ == 1) return identity();
    if (h_ == 2) {
      const Scalar angle = (m(1, 0) - m(0, 1)) / Scalar(2);
      GroupElement g(2, 2);
      g << cos(angle), -sin(angle), sin(angle), cos(angle);
      return g;
    }
    if (h_ == 3) {
      // M = [ω]_×, θ = ‖ω‖: exp(M) = I + (sin θ/θ) M + ((1 − cos θ)/θ²) M².
      const Element k = (m - m.transpose()) / Scalar(2);
      const Scalar theta = sqrt(k(2, 1) * k(2, 1) + k(0, 2) * k(0, 2) + k(1, 0) * k(1, 0));
      GroupElement g = detail::sinc(theta) * k + detail::versinc(theta) * (k * k);
      g.diagonal().array() += Scalar(1);
      return g;
    }
    return detail::matrix_exp(m);
  }

 private:
  Index h_;
};

}  // namespace symflow
