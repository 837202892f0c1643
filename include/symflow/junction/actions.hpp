// SPDX-License-Identifier: MIT
#pragma once
/// \file The group actions behind the junction quantities of symflow/junction/quantities.hpp, on
/// the flat θ of a symflow::Sequential. Each has the members symflow::testing's checks use (act,
/// generator, identity, compose, inverse, exp, algebra()), so the checks run on them unchanged.
///
/// | action                       | group element g          | g · θ                                               | M̄θ |
/// | ---------------------------- | ------------------------ | --------------------------------------------------- | --- |
/// | RescaleJunctionAction<Net,I> | c ∈ (R>0)^h              | [W_I b_I] ← diag(c)[W_I b_I], unit j's columns of W_{I+2} ← c_j^{−α} · | (m ⊙ rows, −α m_j · columns) |
/// | LinearJunctionAction<Net,I>  | g ∈ GL_h                 | [W_I b_I] ← g[W_I b_I], W_{I+2} ← W_{I+2}(g⁻¹ ⊗ I_P) | (M[W b], −W_{I+2}(M ⊗ I_P)) |
/// | ScaleJunctionAction<Net,I>   | c ∈ (R>0)^{groups}       | group k of [W_I b_I] ← c_k ·                        | m_k · group k |
/// | TranslationAction<Net,I>     | (u, β) ∈ R^{in} × R      | W_I ← W_I + 1uᵀ, b_I ← b_I + β1 (additive group)    | (1uᵀ, β1), independent of θ |

#include <unsupported/Eigen/MatrixFunctions>

#include "symflow/junction/quantities.hpp"

namespace symflow {

namespace detail {

/// R^n (or R^{n×n}) with its standard basis, entries in column-major order as coordinates: what
/// max_gradient_orthogonality, orbit ranks and the orbit searches of teleport need.
template <class Element>
struct CoordinateAlgebra {
  using Coordinates = Eigen::Matrix<typename Element::Scalar, Dynamic, 1>;
  Index rows = 1, cols = 1;
  Index dimension() const { return rows * cols; }
  Element basis(Index i) const {
    Element e = Element::Zero(rows, cols);
    e(i % rows, i / rows) = 1;
    return e;
  }
  Coordinates coordinates(const Element& m) const {
    require_shape("junction algebra element", rows, cols, m.rows(), m.cols());
    return Eigen::Map<const Coordinates>(m.data(), m.size());
  }
  Element from_coordinates(const Coordinates& c) const {
    require_length("junction algebra coordinates", dimension(), c.size());
    Element m(rows, cols);
    Eigen::Map<Coordinates>(m.data(), m.size()) = c;
    return m;
  }
};

/// Multiplies the outgoing weights of layer l (P columns per input unit) by X ⊗ I_P from the right:
/// column jP + q ← Σ_i column iP + q · X_ij.
template <class L, class S, class X>
void transform_outgoing(const L& l, S* theta, const X& x) {
  const Index p = l.positions();
  auto w = l.weight(theta);
  Eigen::Matrix<S, Dynamic, Dynamic> block(w.rows(), l.in_units());
  for (Index q = 0; q < p; ++q) {
    for (Index j = 0; j < l.in_units(); ++j) block.col(j) = w.col(j * p + q);
    block = (block * x).eval();
    for (Index j = 0; j < l.in_units(); ++j) w.col(j * p + q) = block.col(j);
  }
}

/// Multiplies the incoming rows [W b] of layer l by X from the left.
template <class L, class S, class X>
void transform_incoming(const L& l, S* theta, const X& x) {
  auto w = l.weight(theta);
  w = (x * w).eval();
  if constexpr (L::has_bias) {
    auto b = l.bias(theta);
    b = (x * b).eval();
  }
}

/// Copies the blocks of layers I (weight and bias) and I + 2 (weight only: g does not act on the
/// outgoing layer's bias) from `from` into `to`, where the rest of a generator is zero.
template <int I, class Net, class Params>
void copy_junction_blocks(const Net& net, const Params& from, Params& to) {
  const auto& in = net.template layer<I>();
  const auto& out = net.template layer<I + 2>();
  to.segment(net.offset(I), in.size()) = from.segment(net.offset(I), in.size());
  to.segment(net.offset(I + 2), out.size()) = from.segment(net.offset(I + 2), out.size());
  if constexpr (std::remove_cvref_t<decltype(out)>::has_bias) out.bias(to.data() + net.offset(I + 2)).setZero();
}

}  // namespace detail

/// (R>0)^h on the units (channels) of layer I, through a homogeneous activation at I + 1.
template <class Net, int I>
class RescaleJunctionAction {
 public:
  using Quantity = RescaleImbalance<Net, I>;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  using Group = typename Quantity::Value;
  using Algebra = Group;

  explicit RescaleJunctionAction(Net net) : quantity_(std::move(net)) {}
  const Net& model() const { return quantity_.model(); }
  detail::CoordinateAlgebra<Algebra> algebra() const { return {quantity_.units(), 1}; }
  Group identity() const { return Group::Ones(quantity_.units()); }
  Group compose(const Group& a, const Group& b) const { return a.cwiseProduct(b); }
  Group inverse(const Group& g) const { return g.cwiseInverse(); }
  Group exp(const Algebra& m) const { return m.array().exp().matrix(); }

  Params act(const Group& c, const Params& theta) const {
    const Scalar alpha = quantity_.degree();
    return apply(theta, c, c.array().pow(-alpha).matrix());
  }
  Params generator(const Algebra& m, const Params& theta) const {
    Params out = apply(theta, m, (-quantity_.degree() * m).eval());
    Params xi = Params::Zero(theta.size());
    copy_blocks(out, xi);
    return xi;
  }

 private:
  Params apply(const Params& theta, const Group& in, const Group& out_factor) const {
    Params p = theta;
    const auto& net = model();
    detail::transform_incoming(net.template layer<I>(), p.data() + net.offset(I), in.asDiagonal());
    detail::transform_outgoing(net.template layer<I + 2>(), p.data() + net.offset(I + 2), out_factor.asDiagonal());
    return p;
  }
  // Keeps only the two layers' blocks (a generator is zero elsewhere, the outgoing bias included).
  void copy_blocks(const Params& from, Params& to) const { detail::copy_junction_blocks<I>(model(), from, to); }
  Quantity quantity_;
};

/// GL_h on the units (channels) of layer I, through a linear activation at I + 1.
template <class Net, int I>
class LinearJunctionAction {
 public:
  using Quantity = LinearImbalance<Net, I>;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  using Group = typename Quantity::Value;
  using Algebra = Group;

  explicit LinearJunctionAction(Net net) : quantity_(std::move(net)) {}
  const Net& model() const { return quantity_.model(); }
  detail::CoordinateAlgebra<Algebra> algebra() const { return {quantity_.units(), quantity_.units()}; }
  Group identity() const { return Group::Identity(quantity_.units(), quantity_.units()); }
  Group compose(const Group& a, const Group& b) const { return a * b; }
  Group inverse(const Group& g) const { return g.inverse(); }
  Group exp(const Algebra& m) const { return m.exp(); }

  Params act(const Group& g, const Params& theta) const {
    Params p = theta;
    const auto& net = model();
    detail::transform_incoming(net.template layer<I>(), p.data() + net.offset(I), g);
    detail::transform_outgoing(net.template layer<I + 2>(), p.data() + net.offset(I + 2), g.inverse().eval());
    return p;
  }
  Params generator(const Algebra& m, const Params& theta) const {
    Params p = theta;
    const auto& net = model();
    detail::transform_incoming(net.template layer<I>(), p.data() + net.offset(I), m);
    detail::transform_outgoing(net.template layer<I + 2>(), p.data() + net.offset(I + 2), (-m).eval());
    Params xi = Params::Zero(theta.size());
    detail::copy_junction_blocks<I>(net, p, xi);
    return xi;
  }

 private:
  Quantity quantity_;
};

/// c ↦ c · (group k of layer I's parameters) for the layer feeding a normalisation at I + 1.
template <class Net, int I>
class ScaleJunctionAction {
 public:
  using Quantity = NormalizedScale<Net, I>;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  using Group = typename Quantity::Value;
  using Algebra = Group;

  explicit ScaleJunctionAction(Net net) : quantity_(std::move(net)) {}
  const Net& model() const { return quantity_.model(); }
  detail::CoordinateAlgebra<Algebra> algebra() const { return {quantity_.groups(), 1}; }
  Group identity() const { return Group::Ones(quantity_.groups()); }
  Group compose(const Group& a, const Group& b) const { return a.cwiseProduct(b); }
  Group inverse(const Group& g) const { return g.cwiseInverse(); }
  Group exp(const Algebra& m) const { return m.array().exp().matrix(); }

  Params act(const Group& c, const Params& theta) const {
    Params p = theta;
    scale(p.data(), c);
    return p;
  }
  Params generator(const Algebra& m, const Params& theta) const {
    const auto& net = model();
    Params xi = Params::Zero(theta.size());
    const Index size = net.template layer<I>().size();
    xi.segment(net.offset(I), size) = theta.segment(net.offset(I), size);
    scale(xi.data(), m);
    return xi;
  }

 private:
  void scale(Scalar* p, const Group& c) const {
    const auto& net = model();
    const auto& l = net.template layer<I>();
    if constexpr (Quantity::per_unit) {
      detail::transform_incoming(l, p + net.offset(I), c.asDiagonal());
    } else {
      Eigen::Map<Eigen::Matrix<Scalar, Dynamic, 1>>(p + net.offset(I), l.size()) *= c[0];
    }
  }
  Quantity quantity_;
};

/// The additive group (u, β) ↦ (W + 1uᵀ, b + β1) on a dense layer I.
template <class Net, int I>
class TranslationAction {
 public:
  using Quantity = Translation<Net, I>;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  using Group = typename Quantity::Value;
  using Algebra = Group;

  explicit TranslationAction(Net net) : quantity_(std::move(net)) {}
  const Net& model() const { return quantity_.model(); }
  Index dimension() const {
    const auto& l = model().template layer<I>();
    return l.in_shape().size() + (Net::template Layer<I>::has_bias ? 1 : 0);
  }
  detail::CoordinateAlgebra<Algebra> algebra() const { return {dimension(), 1}; }
  Group identity() const { return Group::Zero(dimension()); }
  Group compose(const Group& a, const Group& b) const { return a + b; }
  Group inverse(const Group& g) const { return -g; }
  Group exp(const Algebra& m) const { return m; }

  Params act(const Group& u, const Params& theta) const { return theta + generator(u, theta); }
  /// (1uᵀ, β1): the same for every θ.
  Params generator(const Algebra& u, const Params& theta) const {
    const auto& net = model();
    const auto& l = net.template layer<I>();
    Params xi = Params::Zero(theta.size());
    Scalar* p = xi.data() + net.offset(I);
    const Index in = l.in_shape().size();
    l.weight(p).rowwise() = u.head(in).transpose();
    if constexpr (Net::template Layer<I>::has_bias) l.bias(p).setConstant(u[in]);
    return xi;
  }

 private:
  Quantity quantity_;
};

}  // namespace symflow
