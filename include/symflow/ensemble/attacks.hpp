// SPDX-License-Identifier: MIT
#pragma once
/// \file Adversarial attacks on the input in the ℓ∞ ball, following the gradient ∇_X L of the
/// target's loss (a symflow::Classifier, a LastLayersEnsemble, or any type with
/// loss_input_gradient(X, labels)):
///
///  - FGSM (Goodfellow, Shlens & Szegedy, 2015): X' = clip(X + r · sign ∇_X L(X)), one step to a
///    vertex of the ball; it maximises the linearisation L(X) + ⟨∇L, δ⟩ over ‖δ‖∞ ≤ r.
///  - PGD (Madry et al., 2018): X_0 = X (or a uniform random point of the ball),
///    X_{t+1} = Π(X_t + α · sign ∇_X L(X_t)), t < T, Π the projection onto the ball
///    {‖X' − X‖∞ ≤ r} intersected with the valid input box [lower, upper] (entrywise clipping).
///
/// sign(0) = 0. Samples are columns; each sample's perturbation depends only on its own gradient
/// column, so attacking a batch equals attacking its samples one by one. Inputs must lie in the
/// box; an attack of radius 0 then returns X exactly.

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/ensemble/classifier.hpp"
#include "symflow/ensemble/detail/parallel.hpp"

namespace symflow {

/// The valid input range, e.g. pixel intensities in [0, 1]; attacks never leave it.
struct InputBox {
  double lower = 0.0;
  double upper = 1.0;
};

/// PGD's parameters: ℓ∞ radius r, step size α, number of steps T, and whether X_0 is a uniform
/// random point of the ball (Madry et al.) rather than X itself.
struct PgdOptions {
  double radius = 0.1;
  double step = 0.01;
  int steps = 10;
  bool random_start = false;
};

namespace detail {

inline void check_attack(double radius, const InputBox& box) {
  if (!(radius >= 0)) throw std::invalid_argument("symflow: attack radius " + std::to_string(radius) + ", expected ≥ 0");
  if (!(box.lower <= box.upper)) throw std::invalid_argument("symflow: input box with lower bound above upper bound");
}

template <class Derived>
void check_in_box(const Eigen::MatrixBase<Derived>& x, const InputBox& box) {
  using S = typename Derived::Scalar;
  if (x.size() > 0 && (x.minCoeff() < S(box.lower) || x.maxCoeff() > S(box.upper)))
    throw std::invalid_argument("symflow: attack input outside the input box [" + std::to_string(box.lower) + ", " +
                                std::to_string(box.upper) + "]");
}

template <class S>
S sign(S v) {
  return S((v > S(0)) - (v < S(0)));
}

}  // namespace detail

/// FGSM: clip(X + r · sign ∇_X L(X)) in the box.
template <class Target, class Derived>
  requires InputDifferentiableClassifier<Target, typename Derived::PlainObject>
typename Derived::PlainObject fgsm(const Target& target, const Eigen::MatrixBase<Derived>& x,
                                   const std::vector<int>& labels, double radius, const InputBox& box = {}) {
  using Matrix = typename Derived::PlainObject;
  using S = typename Derived::Scalar;
  detail::check_attack(radius, box);
  detail::check_in_box(x, box);
  if (radius == 0) return x;
  const Matrix g = target.loss_input_gradient(x.eval(), labels);
  const S r(radius);
  return (x + r * g.unaryExpr([](S v) { return detail::sign(v); })).cwiseMax(S(box.lower)).cwiseMin(S(box.upper));
}

namespace detail {

template <class Target, class Matrix>
Matrix pgd_from(const Target& target, const Matrix& x, Matrix xt, const std::vector<int>& labels,
                const PgdOptions& o, const InputBox& box) {
  using S = typename Matrix::Scalar;
  const Matrix low = (x.array() - S(o.radius)).cwiseMax(S(box.lower)).matrix();
  const Matrix high = (x.array() + S(o.radius)).cwiseMin(S(box.upper)).matrix();
  xt = xt.cwiseMax(low).cwiseMin(high);
  for (int t = 0; t < o.steps; ++t) {
    const Matrix g = target.loss_input_gradient(xt, labels);
    xt = (xt + S(o.step) * g.unaryExpr([](S v) { return sign(v); })).cwiseMax(low).cwiseMin(high);
  }
  return xt;
}

inline void check_pgd(const PgdOptions& o, const InputBox& box) {
  check_attack(o.radius, box);
  if (!(o.step >= 0)) throw std::invalid_argument("symflow: PGD step size " + std::to_string(o.step) + ", expected ≥ 0");
  if (o.steps < 0) throw std::invalid_argument("symflow: PGD with " + std::to_string(o.steps) + " steps, expected ≥ 0");
}

}  // namespace detail

/// PGD from X_0 = X. Needs options.random_start == false (a random start needs a generator).
template <class Target, class Derived>
  requires InputDifferentiableClassifier<Target, typename Derived::PlainObject>
typename Derived::PlainObject pgd(const Target& target, const Eigen::MatrixBase<Derived>& x,
                                  const std::vector<int>& labels, const PgdOptions& options, const InputBox& box = {}) {
  detail::check_pgd(options, box);
  if (options.random_start)
    throw std::invalid_argument("symflow::pgd: a random start needs a generator; use pgd(target, x, labels, options, box, rng)");
  detail::check_in_box(x, box);
  const typename Derived::PlainObject x0 = x;
  if (options.radius == 0) return x0;
  return detail::pgd_from(target, x0, x0, labels, options, box);
}

/// PGD, with X_0 uniform in the ball around X (clipped to the box) when options.random_start.
template <class Target, class Derived, class Rng>
  requires InputDifferentiableClassifier<Target, typename Derived::PlainObject>
typename Derived::PlainObject pgd(const Target& target, const Eigen::MatrixBase<Derived>& x,
                                  const std::vector<int>& labels, const PgdOptions& options, const InputBox& box,
                                  Rng& rng) {
  using Matrix = typename Derived::PlainObject;
  using S = typename Derived::Scalar;
  detail::check_pgd(options, box);
  detail::check_in_box(x, box);
  const Matrix x0 = x;
  if (options.radius == 0) return x0;
  Matrix start = x0;
  if (options.random_start) {
    std::uniform_real_distribution<double> u(-options.radius, options.radius);
    for (Index j = 0; j < start.cols(); ++j)
      for (Index i = 0; i < start.rows(); ++i) start(i, j) += S(u(rng));
  }
  return detail::pgd_from(target, x0, start, labels, options, box);
}

/// Applies `attack(X_chunk, labels_chunk)` to consecutive chunks of `chunk` samples (in parallel
/// under OpenMP) and assembles the attacked inputs. The chunks do not depend on the number of
/// threads, so neither does the result. Validate the attack's parameters before: an exception
/// cannot leave a parallel loop.
template <class Derived, class Attack>
typename Derived::PlainObject attack_in_chunks(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels,
                                               Index chunk, const Attack& attack) {
  detail::require_length("labels", x.cols(), static_cast<Index>(labels.size()));
  if (chunk < 1) throw std::invalid_argument("symflow::attack_in_chunks: the chunk size must be positive");
  typename Derived::PlainObject out(x.rows(), x.cols());
  const Index chunks = (x.cols() + chunk - 1) / chunk;
  SYMFLOW_PARALLEL_FOR
  for (Index c = 0; c < chunks; ++c) {
    const Index begin = c * chunk, n = std::min(chunk, x.cols() - begin);
    const std::vector<int> y(labels.begin() + begin, labels.begin() + begin + n);
    out.middleCols(begin, n) = attack(x.middleCols(begin, n).eval(), y);
  }
  return out;
}

}  // namespace symflow
