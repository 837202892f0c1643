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

#include "symflow/core/matrix_functions.hpp"
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

/// g · θ for a junction acting on units: [W b] of layer `in` (at in_offset in θ) ← X [W b], the
/// outgoing weights of layer `out` (at out_offset) ← W (Y ⊗ I_P).
template <class In, class Out, class Params, class X, class Y>
Params act_on_junction(const In& in, Index in_offset, const Out& out, Index out_offset, const Params& theta, const X& x,
                       const Y& y) {
  Params p = theta;
  transform_incoming(in, p.data() + in_offset, x);
  transform_outgoing(out, p.data() + out_offset, y);
  return p;
}

/// The blocks a junction's generator lives on: those of `moved` (θ transformed by the algebra
/// element, as act_on_junction does) on the incoming layer (in_size parameters at in_offset) and the
/// outgoing layer `out`, zero elsewhere and on the outgoing bias (g does not act on it).
template <class Params, class Out>
Params junction_blocks(const Params& moved, Index in_offset, Index in_size, const Out& out, Index out_offset) {
  Params xi = Params::Zero(moved.size());
  xi.segment(in_offset, in_size) = moved.segment(in_offset, in_size);
  xi.segment(out_offset, out.size()) = moved.segment(out_offset, out.size());
  if constexpr (Out::has_bias) out.bias(xi.data() + out_offset).setZero();
  return xi;
}

/// The generator of a junction acting on units, for the algebra element whose incoming part is X and
/// outgoing part Y: (X [W b], W (Y ⊗ I_P)) on the two layers' blocks and zero elsewhere.
template <class In, class Out, class Params, class X, class Y>
Params junction_generator(const In& in, Index in_offset, const Out& out, Index out_offset, const Params& theta,
                          const X& x, const Y& y) {
  return junction_blocks(act_on_junction(in, in_offset, out, out_offset, theta, x, y), in_offset, in.size(), out,
                         out_offset);
}

/// c · (group k of layer l's parameters at p): per unit (row k of W and b_k, c of length out_units)
/// or all of them by c[0].
template <bool PerUnit, class L, class S, class C>
void scale_groups(const L& l, S* p, const C& c) {
  if constexpr (PerUnit) transform_incoming(l, p, c.asDiagonal());
  else Eigen::Map<Eigen::Matrix<S, Dynamic, 1>>(p, l.size()) *= c[0];
}

/// The generator (1uᵀ, β1) of the translation of a dense layer l, written into its block at p.
template <class L, class S, class U>
void translation_generator(const L& l, S* p, const U& u) {
  const Index in = l.in_shape().size();
  l.weight(p).rowwise() = u.head(in).transpose();
  if constexpr (L::has_bias) l.bias(p).setConstant(u[in]);
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
    const auto& net = model();
    return detail::act_on_junction(net.template layer<I>(), net.offset(I), net.template layer<I + 2>(), net.offset(I + 2),
                                   theta, c.asDiagonal(), c.array().pow(-quantity_.degree()).matrix().asDiagonal());
  }
  Params generator(const Algebra& m, const Params& theta) const {
    const auto& net = model();
    return detail::junction_generator(net.template layer<I>(), net.offset(I), net.template layer<I + 2>(),
                                      net.offset(I + 2), theta, m.asDiagonal(), (-quantity_.degree() * m).eval().asDiagonal());
  }

 private:
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
  Group inverse(const Group& g) const { return detail::matrix_inverse(g); }
  Group exp(const Algebra& m) const { return detail::matrix_exp(m); }

  Params act(const Group& g, const Params& theta) const {
    const auto& net = model();
    return detail::act_on_junction(net.template layer<I>(), net.offset(I), net.template layer<I + 2>(), net.offset(I + 2),
                                   theta, g, detail::matrix_inverse(g));
  }
  Params generator(const Algebra& m, const Params& theta) const {
    const auto& net = model();
    return detail::junction_generator(net.template layer<I>(), net.offset(I), net.template layer<I + 2>(),
                                      net.offset(I + 2), theta, m, (-m).eval());
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
    detail::scale_groups<Quantity::per_unit>(net.template layer<I>(), p + net.offset(I), c);
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
    Params xi = Params::Zero(theta.size());
    detail::translation_generator(net.template layer<I>(), xi.data() + net.offset(I), u);
    return xi;
  }

 private:
  Quantity quantity_;
};

}  // namespace symflow
