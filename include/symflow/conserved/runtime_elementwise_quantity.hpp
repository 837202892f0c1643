// SPDX-License-Identifier: MIT
#pragma once
/// \file eq. (48) on a model composed at run time: the quantity of ElementwiseQuantity at the junction
/// dense → σ → dense that starts at layer I of a RuntimeSequential,
///     Q_k = ½‖column k of W_{I+2}‖² − Σ_j Φ_σ(W_I[k, j]),   Φ_σ(v) = ∫_0^v σ(x)/σ′(x) dx,
/// one entry per unit k of layer I.
///
/// Layer I must be Dense without a bias (a bias breaks eq. 48), layer I + 1 one of the run-time
/// activations (identity, ReLU, LeakyReLU, Homogeneous, tanh, sigmoid), layer I + 2 Dense (its bias,
/// if any, plays no part). θ then holds W_I and W_{I+2} next to each other, exactly as a two-layer
/// Mlp<S, σ, n, h, m> holds W_1 and W_2, and the quantity is that Mlp's ElementwiseQuantity on this
/// slice of θ (with run-time widths): the same code, the same numbers.
///
/// When it is conserved (see elementwise_quantity.hpp): when the block's input is X = I (or a
/// permutation of it), i.e. I = 1 and whitened one-hot inputs; for identity and LeakyReLU, Φ is
/// quadratic and Q is conserved for every input. Elsewhere it is a well-defined function of θ that
/// gradient flow changes (count_conservation_laws with account_for_law_gradients shows which).

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "symflow/conserved/elementwise_quantity.hpp"
#include "symflow/model/runtime_sequential.hpp"

namespace symflow {

template <class Scalar_>
class RuntimeElementwiseQuantity {
 public:
  using Scalar = Scalar_;
  using Params = Eigen::Matrix<Scalar, Dynamic, 1>;
  using Value = Eigen::Matrix<Scalar, Dynamic, 1>;

  /// Throws std::invalid_argument naming the layer whose kind does not fit.
  RuntimeElementwiseQuantity(const RuntimeSequential<Scalar>& net, Index layer)
      : layer_(layer), d_(net.size()), quantity_(make(net, layer)) {
    offset_ = net.offset(layer);
  }

  /// I, the junction's first layer.
  Index layer() const { return layer_; }
  /// h, the number of units of layer I: Q has one entry per unit.
  Index rows() const { return std::visit([](const auto& q) { return q.model().width(1); }, quantity_); }
  static constexpr Index cols() { return 1; }
  /// d of the model it belongs to.
  Index size() const { return d_; }
  /// The activation's name (identity, relu, …).
  std::string activation() const {
    return std::visit([](const auto& q) { return q.model().activation().name(); }, quantity_);
  }

  /// Q_k for every unit k of layer I.
  Value value(const Params& theta) const {
    return std::visit([&](const auto& q) -> Value { return q.value(slice(theta)); }, quantity_);
  }
  /// Σ_j Φ_σ(W_I[k, j]) for every unit k: the incoming term.
  Value potentials(const Params& theta) const {
    return std::visit([&](const auto& q) -> Value { return q.potentials(slice(theta)); }, quantity_);
  }
  /// ½‖W_{I+2}‖²_F and Σ_kj Φ_σ(W_I[k, j]): the two terms of Σ_k Q_k (in double for float weights).
  accumulator_t<Scalar> outgoing(const Params& theta) const {
    return std::visit([&](const auto& q) { return q.outgoing(slice(theta)); }, quantity_);
  }
  accumulator_t<Scalar> incoming(const Params& theta) const {
    return std::visit([&](const auto& q) { return q.incoming(slice(theta)); }, quantity_);
  }
  /// dQ(θ + tv)/dt at t = 0, exact (dual numbers; v's entries outside W_I and W_{I+2} play no part).
  Value derivative(const Params& theta, const Params& v) const {
    detail::require_length("velocity v", d_, v.size());
    return std::visit([&](const auto& q) -> Value { return directional_derivative(q, slice(theta), slice(v)); }, quantity_);
  }

 private:
  template <class A>
  using Quantity = ElementwiseQuantity<Mlp<Scalar, A, Dynamic, Dynamic, Dynamic>>;
  using Variant = std::variant<Quantity<Identity>, Quantity<ReLU>, Quantity<LeakyReLU>, Quantity<Homogeneous>,
                               Quantity<Tanh>, Quantity<Sigmoid>>;

  static Variant make(const RuntimeSequential<Scalar>& net, Index layer) {
    const std::string where = "symflow::RuntimeElementwiseQuantity: layer " + std::to_string(layer);
    if (layer < 1 || layer + 2 > net.layer_count())
      throw std::invalid_argument(where + ": eq. (48) needs layers I, I + 1 and I + 2 (dense, activation, dense); the "
                                  "model has " + std::to_string(net.layer_count()) + " layers");
    const RuntimeLayer& in = net.spec(layer);
    if (!std::holds_alternative<DenseLayer>(in))
      throw std::invalid_argument(where + " is " + layer_name(in) + ", expected dense without a bias (a bias breaks eq. (48))");
    const bool activation = std::visit([](const auto& l) { return is_activation<std::remove_cvref_t<decltype(l)>>; },
                                       net.spec(layer + 1));
    if (!activation)
      throw std::invalid_argument(where + ": layer " + std::to_string(layer + 1) + " is " +
                                  layer_name(net.spec(layer + 1)) + ", expected an activation");
    const RuntimeLayer& out = net.spec(layer + 2);
    if (!std::holds_alternative<DenseLayer>(out) && !std::holds_alternative<DenseWithBiasLayer>(out))
      throw std::invalid_argument(where + ": layer " + std::to_string(layer + 2) + " is " + layer_name(out) +
                                  ", expected dense");
    const Index n = net.layer_input_shape(layer).size();
    const Index h = std::get<DenseLayer>(in).units;
    const Index m = net.layer_output_shape(layer + 2).size();
    return std::visit(
        [&](const auto& act) -> Variant {
          using A = std::remove_cvref_t<decltype(act)>;
          if constexpr (is_activation<A>) return Quantity<A>(Mlp<Scalar, A, Dynamic, Dynamic, Dynamic>({n, h, m}, act));
          else throw std::logic_error("unreachable: layer checked above");
        },
        net.spec(layer + 1));
  }

  /// The run-time activations, the alternatives of Variant.
  template <class A>
  static constexpr bool is_activation = std::is_same_v<A, Identity> || std::is_same_v<A, ReLU> ||
                                        std::is_same_v<A, LeakyReLU> || std::is_same_v<A, Homogeneous> ||
                                        std::is_same_v<A, Tanh> || std::is_same_v<A, Sigmoid>;

  /// W_I and W_{I+2}, adjacent in θ, as the two-layer Mlp's parameters.
  Params slice(const Params& theta) const {
    detail::require_length("parameter vector θ", d_, theta.size());
    const Index len = std::visit([](const auto& q) { return q.model().size(); }, quantity_);
    return theta.segment(offset_, len);
  }

  Index layer_;
  Index d_;
  Index offset_ = 0;
  Variant quantity_;
};

}  // namespace symflow
