// SPDX-License-Identifier: MIT
#pragma once
/// \file The units of a parameterised layer (Dense or Conv2d) of a symflow::Sequential, as the
/// junction symmetries see them.
///
/// Both layers keep their weight as a matrix whose row k holds everything unit k receives:
/// Dense W (out × in), Conv2d w viewed as out × (in·K·K). Unit k is a neuron of a dense layer or a
/// channel of a convolution; its incoming parameters are row k of the weight and b_k.
/// The layer's input units are the channels of its input: input unit j owns the P consecutive
/// weight columns j·P, …, (j+1)·P − 1, with P = H·W for a dense layer reading a C×H×W input (P = 1
/// for a vector) and P = K·K for a convolution. Scaling the output of unit j of the layer before
/// by c is therefore undone by scaling those P columns by 1/c.

#include "symflow/core/config.hpp"
#include "symflow/model/sequential.hpp"

namespace symflow::detail {

/// Layer I of Net holds a weight matrix (Dense or Conv2d).
template <class Net, int I>
concept ParameterisedLayerAt = requires { requires Net::template Layer<I>::parameterised; };

/// Per unit k of layer l: ⟨row k of W_x, row k of W_y⟩ + b_x[k] b_y[k] (x, y: the layer's parameters).
template <class L, class S = typename L::Scalar>
Eigen::Matrix<S, L::out_c, 1> incoming_dots(const L& l, const S* x, const S* y) {
  Eigen::Matrix<S, L::out_c, 1> r = l.weight(x).cwiseProduct(l.weight(y)).rowwise().sum();
  if constexpr (L::has_bias) r += l.bias(x).cwiseProduct(l.bias(y));
  return r;
}

/// Per input unit j of layer l: ⟨columns jP, …, jP + P − 1 of W_x, the same of W_y⟩.
template <int Units, class L, class S = typename L::Scalar>
Eigen::Matrix<S, Units, 1> outgoing_dots(const L& l, const S* x, const S* y) {
  const Index p = l.positions();
  const auto wx = l.weight(x);
  const auto wy = l.weight(y);
  Eigen::Matrix<S, Units, 1> r(l.in_units());
  for (Index j = 0; j < l.in_units(); ++j) r[j] = wx.middleCols(j * p, p).cwiseProduct(wy.middleCols(j * p, p)).sum();
  return r;
}

/// The outgoing weights of layer l (which reads h input units, P weight columns each) unfolded
/// per input unit: row j of the result holds columns jP, …, jP + P − 1 of W, one after the other.
/// Then ⟨unit j's outgoing weights of x, unit k's of y⟩ = (U_x U_yᵀ)_{jk}.
template <int Units, class L, class S = typename L::Scalar>
Eigen::Matrix<S, Units, Dynamic> unfold_outgoing(const L& l, const S* x) {
  const Index p = l.positions();
  const auto w = l.weight(x);
  Eigen::Matrix<S, Units, Dynamic> u(l.in_units(), w.rows() * p);
  for (Index j = 0; j < l.in_units(); ++j)
    for (Index q = 0; q < p; ++q) u.row(j).segment(q * w.rows(), w.rows()) = w.col(j * p + q).transpose();
  return u;
}

/// The rows of layer l's weight with the bias appended as a last column: [W b] (everything each
/// unit receives).
template <class L, class S = typename L::Scalar>
Eigen::Matrix<S, L::out_c, Dynamic> incoming(const L& l, const S* x) {
  const auto w = l.weight(x);
  Eigen::Matrix<S, L::out_c, Dynamic> r(w.rows(), w.cols() + (L::has_bias ? 1 : 0));
  r.leftCols(w.cols()) = w;
  if constexpr (L::has_bias) r.col(w.cols()) = l.bias(x);
  return r;
}

}  // namespace symflow::detail
