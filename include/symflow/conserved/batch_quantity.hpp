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
///    with the same Φ as ElementwiseQuantity (tanh and sigmoid by power series for packets of
///    weights within |v| ≤ ½, through the SIMD e^x − 1 otherwise).
/// They agree with q.value(θ_l) to rounding (the single-run sums use other orders); the tests hold
/// them to 1e-13 of the magnitude of the two sums in double.

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>

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

/// p(x) = Σ_{i<K} c_i x^i, a packet (or a scalar) at a time, as E(x²) + x·O(x²): two Horner chains
/// of half the length over the even and the odd coefficients, unrolled, whose multiply-adds overlap.
template <class S, class Packet, std::size_t K>
EIGEN_STRONG_INLINE Packet power_series(const std::array<double, K>& c, const Packet& x) {
  static_assert(K >= 2);
  using namespace Eigen::internal;
  constexpr std::size_t ne = (K + 1) / 2, no = K / 2;
  const Packet x2 = pmul(x, x);
  Packet even = pset1<Packet>(S(c[2 * (ne - 1)])), odd = pset1<Packet>(S(c[2 * no - 1]));
  [&]<std::size_t... j>(std::index_sequence<j...>) {
    ((even = pmadd(even, x2, pset1<Packet>(S(c[2 * (ne - 2 - j)])))), ...);
  }(std::make_index_sequence<ne - 1>{});
  [&]<std::size_t... j>(std::index_sequence<j...>) {
    ((odd = pmadd(odd, x2, pset1<Packet>(S(c[2 * (no - 2 - j) + 1])))), ...);
  }(std::make_index_sequence<no - 1>{});
  return pmadd(odd, x, even);
}

/// Φ of tanh and of the logistic function (eq. 48) for the lanes' sums, a packet at a time. A
/// packet whose entries all lie within |v| ≤ ½ takes a power series (no exponential, no division):
/// tanh Φ(v) = ½ sinh²v = (cosh 2v − 1)/4 = Σ_{k≥1} 4^{k−1} s^k/(2k)! with s = v², all terms
/// positive, k ≤ 9 in double (the rest below 1e-18 Φ) and k ≤ 5 in float (below 5e-9 Φ); logistic
/// Φ(v) = v + e^v − 1 = 2v + Σ_{k≥2} v^k/k!, k ≤ 15 in double (the rest below 1e-18 |Φ|) and k ≤ 8
/// in float (below 1e-8 |Φ|). Other packets take the closed forms of Tanh::potentials
/// (TanhPotentialKernel) and Sigmoid::potentials through the SIMD e^x − 1.
template <class S, bool IsTanh>
struct PotentialLaneKernel {
  static constexpr bool single = std::is_same_v<S, float>;
  static constexpr std::array<double, single ? 5 : 9> tanh_series = [] {
    std::array<double, single ? 5 : 9> c{};
    long double term = 0.5L;  // 4^{k−1}/(2k)! at k = 1
    for (std::size_t k = 1; k <= c.size(); ++k) {
      c[k - 1] = static_cast<double>(term);
      term *= 4.0L / ((2.0L * static_cast<long double>(k) + 1) * (2.0L * static_cast<long double>(k) + 2));
    }
    return c;
  }();
  static constexpr std::array<double, single ? 8 : 15> logistic_series = [] {
    std::array<double, single ? 8 : 15> c{};  // c_i multiplies v^{i+1}
    long double term = 1;
    for (std::size_t k = 1; k <= c.size(); ++k) {
      term /= static_cast<long double>(k);
      c[k - 1] = static_cast<double>(term);
    }
    c[0] = 2;  // v + (e^v − 1) = 2v + v²/2 + …
    return c;
  }();
  S operator()(const S& v) const {
    using std::abs;
    if (abs(v) <= S(0.5)) return IsTanh ? v * v * power_series<S>(tanh_series, v * v) : v * power_series<S>(logistic_series, v);
    if constexpr (IsTanh) return TanhPotentialKernel<S>{}(v);
    else return v + Expm1Kernel<S>{}(v);
  }
  template <class Packet>
  EIGEN_STRONG_INLINE Packet packetOp(const Packet& v) const {
    using namespace Eigen::internal;
    if (!any_set(pcmp_lt(pset1<Packet>(S(0.5)), pabs(v)))) {
      if constexpr (IsTanh) {
        const Packet s = pmul(v, v);
        return pmul(s, power_series<S>(tanh_series, s));
      } else {
        return pmul(v, power_series<S>(logistic_series, v));
      }
    }
    if constexpr (IsTanh) return TanhPotentialKernel<S>{}.packetOp(v);
    else return padd(v, Expm1Kernel<S>{}.packetOp(v));
  }
};

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
      // Φ a chunk of entries at a time (PotentialLaneKernel: power series for small weights, else
      // as ElementwiseQuantity through the SIMD e^x − 1).
      constexpr int chunk = 16;
      Eigen::Array<S, chunk * W, 1> phi;
      incoming.setZero();
      for (Index i = 0; i < count; i += chunk) {
        const Index len = std::min<Index>(chunk, count - i);
        const Eigen::Map<const Eigen::Array<S, Dynamic, 1>> x(theta.data() + (first + i) * W, len * W);
        auto e = phi.head(len * W);
        e = x.unaryExpr(detail::PotentialLaneKernel<S, std::is_same_v<Act, Tanh>>{});
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

namespace Eigen::internal {
template <class S, bool IsTanh>
struct functor_traits<symflow::detail::PotentialLaneKernel<S, IsTanh>> : functor_traits<symflow::detail::Expm1Kernel<S>> {};
}  // namespace Eigen::internal
