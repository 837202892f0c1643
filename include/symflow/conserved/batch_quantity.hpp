// SPDX-License-Identifier: MIT
#pragma once
/// \file A conserved quantity in every lane of a batch of runs (flow/batch_objective.hpp):
/// lane_values(q, Θ)[l] = q.value(θ_l).
///
/// Any quantity works (each lane's θ is gathered and q.value called on it: the same numbers as
/// one run, at the cost of a copy of θ per lane). Two quantities that sweeps record at every step
/// run lane-parallel over the structure of arrays instead, with sums in increasing entry order in
/// accumulator_t (double for float):
///  - Tr Q of the first hidden layer of a linear network, LayerImbalanceTrace<Net, 1>:
///    ‖W_1‖²_F − ‖W_2‖²_F (eq. 27 traced);
///  - eq. (48) summed over the hidden units, summed(ElementwiseQuantity<Net>):
///    ½‖W_2‖²_F − Σ_kj Φ_σ(W_1[k, j]) for identity, (leaky) ReLU, homogeneous, tanh and sigmoid,
///    with the same Φ as ElementwiseQuantity (tanh and sigmoid through the SIMD e^x − 1).
/// They agree with q.value(θ_l) to rounding (the single-run sums use other orders); the tests hold
/// them to 1e-13 of the magnitude of the two sums in double.

#include <algorithm>
#include <array>
#include <type_traits>

#include "symflow/conserved/elementwise_quantity.hpp"
#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/flow/batch_objective.hpp"

namespace symflow {

namespace detail {

/// Σ over the entries [first, first + count) of θ of f(entry lanes), per lane, in accumulator_t.
template <class Net, int W, class F>
Eigen::Array<accumulator_t<typename Net::Scalar>, W, 1> lane_sum(const BatchParams<Net, W>& theta, Index first,
                                                                Index count, F&& f) {
  Eigen::Array<accumulator_t<typename Net::Scalar>, W, 1> sum;
  detail::lane_sum<W>(sum.data(), theta.data() + first * W, count, std::forward<F>(f));
  return sum;
}

template <class Q>
inline constexpr bool lane_parallel_elementwise_v = false;
template <class Net>
inline constexpr bool lane_parallel_elementwise_v<Summed<ElementwiseQuantity<Net>>> =
    !Net::has_bias && (std::is_same_v<typename Net::Activation, Identity> || std::is_same_v<typename Net::Activation, LeakyReLU> ||
                       std::is_same_v<typename Net::Activation, ReLU> || std::is_same_v<typename Net::Activation, Homogeneous> ||
                       ((std::is_same_v<typename Net::Activation, Tanh> || std::is_same_v<typename Net::Activation, Sigmoid>) &&
                        simd_real_v<typename Net::Scalar>));

}  // namespace detail

/// q.value(θ_l) for every lane l of Θ.
template <class Q, class Net, int W>
std::array<typename Q::Value, W> lane_values(const Q& q, const BatchParams<Net, W>& theta) {
  using S = typename Net::Scalar;
  using A = accumulator_t<S>;
  std::array<typename Q::Value, W> out;
  if constexpr (std::is_same_v<Q, LayerImbalanceTrace<Net, 1>> && !Net::has_bias) {
    const Net& net = q.model();
    const auto squares = [](const auto& x) { return x.template cast<A>().square(); };
    const auto v = detail::lane_sum(theta, net.weight_offset(1), net.width(1) * net.width(0), squares);
    const auto u = detail::lane_sum(theta, net.weight_offset(2), net.width(2) * net.width(1), squares);
    for (int l = 0; l < W; ++l) out[static_cast<std::size_t>(l)] = static_cast<S>(v[l] - u[l]);
  } else if constexpr (detail::lane_parallel_elementwise_v<Q>) {
    using Act = typename Net::Activation;
    const Net& net = q.summand().model();
    const auto square = [](const auto& x) { return x.template cast<A>().square(); };
    // max(x, 0)² is x² for x > 0 and 0 otherwise (a NaN entry included, as x > 0 ? x² : 0).
    const auto positive_square = [](const auto& x) { return x.template cast<A>().max(A(0)).square(); };
    const auto outgoing = detail::lane_sum(theta, net.weight_offset(2), net.width(2) * net.width(1), square);
    const Index first = net.weight_offset(1), count = net.width(1) * net.width(0);
    Eigen::Array<A, W, 1> incoming;
    if constexpr (std::is_same_v<Act, Identity> || std::is_same_v<Act, LeakyReLU>) {
      incoming = A(0.5) * detail::lane_sum(theta, first, count, square);
    } else if constexpr (std::is_same_v<Act, ReLU>) {
      incoming = A(0.5) * detail::lane_sum(theta, first, count, positive_square);
    } else if constexpr (std::is_same_v<Act, Homogeneous>) {
      incoming = (A(0.5) / A(net.activation().alpha)) * detail::lane_sum(theta, first, count, positive_square);
    } else {
      // Φ a chunk of entries at a time through the SIMD e^x − 1, as ElementwiseQuantity: tanh
      // Φ(v) = ½ sinh²|v| with sinh a = e(e + 2)/(2(e + 1)), e = e^a − 1; sigmoid Φ(v) = v + e^v − 1.
      constexpr int chunk = 16;
      Eigen::Array<S, chunk * W, 1> phi;
      incoming.setZero();
      for (Index i = 0; i < count; i += chunk) {
        const Index len = std::min<Index>(chunk, count - i);
        const Eigen::Map<const Eigen::Array<S, Dynamic, 1>> x(theta.data() + (first + i) * W, len * W);
        auto e = phi.head(len * W);
        if constexpr (std::is_same_v<Act, Tanh>) {
          e = x.abs().unaryExpr(detail::Expm1Kernel<S>{});
          e = S(0.125) * (e * (e + S(2)) / (e + S(1))).square();
        } else {
          e = x + x.unaryExpr(detail::Expm1Kernel<S>{});
        }
        A part[W];
        detail::lane_sum<W>(part, phi.data(), len, [](const auto& v) { return v.template cast<A>(); });
        for (int l = 0; l < W; ++l) incoming[l] += part[l];
      }
    }
    for (int l = 0; l < W; ++l) out[static_cast<std::size_t>(l)] = static_cast<S>(A(0.5) * outgoing[l] - incoming[l]);
  } else {
    for (int l = 0; l < W; ++l) out[static_cast<std::size_t>(l)] = q.value(theta.lane(l));
  }
  return out;
}

}  // namespace symflow
