// Activations and helpers shared by the symmetry-group tests.
#pragma once
#include "support.hpp"

#include <symflow/group.hpp>

namespace symflow::test {

// A smooth radial profile: σ(z) = z / (1 + ‖z‖²).
struct InverseQuadratic {
  template <class S> S operator()(const S& r) const { return S(1) / (S(1) + r * r); }
};

// A user activation declaring its equivariance intrusively: σ(z) = max(z, 0)³ is positively
// homogeneous of degree 3.
struct CubedReLU {
  using equivariance = symflow::ScalingEquivariant;
  static constexpr double degree() { return 3.0; }
  template <class S> S value(const S& z) const { return z > S(0) ? z * z * z : S(0); }
  template <class S> S derivative(const S& z) const { return z > S(0) ? S(3) * z * z : S(0); }
};

// A user column activation σ(z) = z / √(1 + ‖z‖²), declared O(h)-equivariant non-intrusively below.
struct SoftNormalize {
  template <class Derived>
  auto apply(const Eigen::MatrixBase<Derived>& z) const {
    using S = typename Derived::Scalar;
    using std::sqrt;
    return (z / sqrt(S(1) + z.squaredNorm())).eval();
  }
  // dσ_z = (I − z zᵀ/(1 + ‖z‖²)) / √(1 + ‖z‖²) is symmetric, so dσ_zᵀ g = dσ_z g.
  template <class DZ, class DG>
  auto pullback(const Eigen::MatrixBase<DZ>& z, const Eigen::MatrixBase<DG>& g) const {
    using S = typename DZ::Scalar;
    using std::sqrt;
    const S q = S(1) + z.squaredNorm();
    return ((g - z * (z.dot(g) / q)) / sqrt(q)).eval();
  }
};

}  // namespace symflow::test

template <> struct symflow::equivariance<symflow::test::SoftNormalize> : symflow::OrthogonalEquivariant {};

namespace symflow::test {

/// A random Lie-algebra element of the action's algebra with norm `norm`.
template <class Action>
typename Action::Algebra scaled_random(const Action& action, std::mt19937_64& rng, double norm) {
  typename Action::Algebra m = action.algebra().random(rng);
  m *= static_cast<typename Action::Scalar>(norm / static_cast<double>(m.norm()));
  return m;
}

}  // namespace symflow::test

namespace symflow::test {

/// A random element of any action's Lie algebra (products included) whose coordinates have norm `norm`.
template <class Action>
typename Action::Algebra random_with_coordinate_norm(const Action& action, std::mt19937_64& rng, double norm) {
  auto c = action.algebra().coordinates(action.algebra().random(rng));
  c *= static_cast<typename Action::Scalar>(norm / static_cast<double>(c.norm()));
  return action.algebra().from_coordinates(c);
}

}  // namespace symflow::test
