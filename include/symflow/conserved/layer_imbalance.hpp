// SPDX-License-Identifier: MIT
#pragma once
/// \file The layer imbalance of a linear hidden layer: the h×h matrix
/// Q_i = W_i W_iᵀ (+ b_i b_iᵀ) − W_{i+1}ᵀ W_{i+1}, every conserved Q_M of GL_h at once
/// (eq. 27 and Example 7), and its trace.
///
/// Hidden layer i (1 ≤ i ≤ L − 1, width h = n_i) sits between W_i ∈ R^{h×n_{i−1}} and
/// W_{i+1} ∈ R^{n_{i+1}×h}. With σ = identity on it, g ∈ GL_h acts by W_i ↦ g W_i, b_i ↦ g b_i,
/// W_{i+1} ↦ W_{i+1} g⁻¹ and leaves the network function unchanged. The generator of M ∈ gl_h is
/// (M W_i, M b_i, −W_{i+1} M), so Prop. 12 gives Q_M(θ) = ⟨θ, M̄θ⟩ = ⟨M, Q_i⟩_F: for symmetric M
/// every Q_M is a linear combination of the entries of Q_i, and for antisymmetric M it is 0.
/// Along gradient flow dQ_i/dt = 0 for every loss and every batch X (the proof only uses that
/// L depends on W_{i+1} W_i).
///
/// The same quantities work on every junction symflow::junction<Model, i> describes: a hidden layer
/// of an Mlp, a dense junction (Dense I, activation I + 1, Dense I + 2) of a Sequential named by its
/// incoming layer I, one inside a residual block (symflow::residual_block<R>(net)), or a user model's.
/// On a Sequential, LayerImbalance<Net, I> equals the LinearImbalance of conserved<I>(net) (the same
/// matrix, summed in another order) and on θ laid out as a BiasedMlp's the Mlp's, bit for bit.
///
/// Sign convention (docs/conventions.md): LayerImbalance, LayerImbalanceTrace(s) are incoming
/// minus outgoing, full scale, the sign of ⟨θ, M̄θ⟩ for the action above. The paper's Appendix D–E
/// quantity ½Tr[UᵀU − VVᵀ] (eq. 45) is HalfTraceOutgoingMinusIncoming, −½ times the trace; Prop.
/// 13's Tr[UᵀU − VVᵀ] (eqs. 35–41) is −1 times it.

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/conserved/quantity.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

namespace detail {

/// Layer names a junction of Model (a hidden layer of an Mlp, a dense junction of a Sequential).
template <class Model, int Layer>
constexpr void check_junction_layer() {
  static_assert(is_junction<Model, Layer>,
                "symflow: Layer must be a hidden layer, 1 ≤ Layer ≤ L − 1 (it sits between W_Layer and W_{Layer+1}); "
                "on a Sequential, a Dense layer I that an activation (layer I + 1) and a Dense layer (layer I + 2) "
                "follow. Convolutions, normalisations and the softmax head have the quantities of "
                "symflow::conserved<I>(net)");
}

template <class Model, int Layer>
constexpr void check_linear_hidden_layer() {
  check_junction_layer<Model, Layer>();
  if constexpr (is_junction<Model, Layer>)
    static_assert(GeneralLinearEquivariantActivation<typename junction<Model, Layer>::Activation>,
                  "symflow::LayerImbalance: the GL_h symmetry needs a linear hidden layer (symflow::Identity, or an "
                  "activation declared GeneralLinearEquivariant); for ReLU, LeakyReLU or Homogeneous use "
                  "symflow::ScalingImbalance, for other elementwise activations symflow::ElementwiseQuantity");
}

/// q = A Aᵀ (+ b bᵀ) − Bᵀ B, exactly symmetric. From h = 64 on, only the lower triangle is computed
/// (two symmetric rank-k updates, half the multiplications) and mirrored; below that the two general
/// products are faster.
template <class Q, class A, class B>
void symmetric_difference(Q& q, const A& a, const B& b) {
  using Scalar = typename Q::Scalar;
  if (q.rows() >= 64) {
    q.setZero();
    q.template selfadjointView<Eigen::Lower>().rankUpdate(a);
    q.template selfadjointView<Eigen::Lower>().rankUpdate(b.transpose(), Scalar(-1));
    q.template triangularView<Eigen::StrictlyUpper>() = q.transpose();
  } else {
    q.noalias() = a * a.transpose();
    q.noalias() -= b.transpose() * b;
    // Blocked products sum (k, l) and (l, k) in different orders; mirror so that q is exactly symmetric.
    q.template triangularView<Eigen::StrictlyUpper>() = q.transpose();
  }
}
template <class Q, class A, class V, class B>
void symmetric_difference(Q& q, const A& a, const V& bias, const B& b) {
  symmetric_difference(q, a, b);
  q.noalias() += bias * bias.transpose();
}

}  // namespace detail

/// Q_i = W_i W_iᵀ (+ b_i b_iᵀ) − W_{i+1}ᵀ W_{i+1} ∈ R^{h×h} for hidden layer i = Layer of a linear
/// (symflow::Identity) MLP, or junction Layer of another model (W_{i+1}: the junction's outgoing
/// weight). Conserved entry by entry by gradient flow, for any loss and data.
template <class Model, int Layer = 1>
class LayerImbalance {
  using Junction = junction<Model, Layer>;

 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  static constexpr int hidden = Junction::width;
  using Value = Eigen::Matrix<Scalar, hidden, hidden>;
  static constexpr bool is_quadratic = true;

  explicit LayerImbalance(Model model) : model_(std::move(model)) { detail::check_linear_hidden_layer<Model, Layer>(); }

  const Model& model() const { return model_; }
  /// h, the width of the hidden layer.
  Index width() const { return Junction::hidden(model_); }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    const auto w_in = Junction::in_weight(model_, p);
    const auto w_out = Junction::out_weight(model_, p);
    Value q(width(), width());
    if constexpr (Junction::has_bias) {
      detail::symmetric_difference(q, w_in, Junction::in_bias(model_, p), w_out);
    } else {
      detail::symmetric_difference(q, w_in, w_out);
    }
    return q;
  }

  template <class S>
  LayerImbalance<typename Model::template Rebind<S>, Layer> cast() const {
    return LayerImbalance<typename Model::template Rebind<S>, Layer>(model_.template cast<S>());
  }
  static std::string name() { return "layer_imbalance_" + std::to_string(Layer); }

 private:
  Model model_;
};

namespace detail {

/// ‖W_i‖²_F (+ ‖b_i‖²) − ‖W_{i+1}‖²_F of junction Layer, accumulated wider than float: a difference
/// of two nearly equal sums (symflow::sum_of_squares).
template <int Layer, class Model, class D>
accumulator_t<typename Model::Scalar> incoming_minus_outgoing(const Model& model, const Eigen::MatrixBase<D>& p) {
  using J = junction<Model, Layer>;
  accumulator_t<typename Model::Scalar> q =
      sum_of_squares(J::in_weight(model, p)) - sum_of_squares(J::out_weight(model, p));
  if constexpr (J::has_bias) q += sum_of_squares(J::in_bias(model, p));
  return q;
}

}  // namespace detail

/// Tr Q_i = ‖W_i‖²_F (+ ‖b_i‖²) − ‖W_{i+1}‖²_F: the layer imbalance of Du et al. (2018), one
/// streaming pass over the two layers (O(h(n_{i−1} + n_{i+1})), no matrix product). Any junction.
template <class Model, int Layer = 1>
class LayerImbalanceTrace {
 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Scalar;
  static constexpr bool is_quadratic = true;

  explicit LayerImbalanceTrace(Model model) : model_(std::move(model)) {
    detail::check_linear_hidden_layer<Model, Layer>();
  }
  const Model& model() const { return model_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    return static_cast<Scalar>(detail::incoming_minus_outgoing<Layer>(model_, p));
  }

  template <class S>
  LayerImbalanceTrace<typename Model::template Rebind<S>, Layer> cast() const {
    return LayerImbalanceTrace<typename Model::template Rebind<S>, Layer>(model_.template cast<S>());
  }
  static std::string name() { return "layer_imbalance_trace_" + std::to_string(Layer); }

 private:
  Model model_;
};

/// The paper's Q of Appendices D–E, eq. (45): ½Tr[UᵀU − VVᵀ] = ½(‖W_{i+1}‖²_F − ‖W_i‖²_F (− ‖b_i‖²))
/// for hidden layer i = Layer (U = W_{i+1}, V = W_i): outgoing minus incoming, halved, that is
/// −½ LayerImbalanceTrace. For the two-layer block it is eq. (48) summed over the units with σ
/// linear (ElementwiseQuantity). Conserved by gradient flow whenever the trace is (a linear hidden
/// layer; ReLU and LeakyReLU too, by the positive scaling symmetry). Summed in double for float.
/// Defined at every junction (of an Mlp, a Sequential, a residual block).
template <class Model, int Layer = 1>
class HalfTraceOutgoingMinusIncoming {
 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Scalar;
  static constexpr bool is_quadratic = true;

  explicit HalfTraceOutgoingMinusIncoming(Model model) : model_(std::move(model)) {
    detail::check_junction_layer<Model, Layer>();
  }
  const Model& model() const { return model_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    return static_cast<Scalar>(accumulator_t<Scalar>(-0.5) * detail::incoming_minus_outgoing<Layer>(model_, p));
  }

  template <class S>
  HalfTraceOutgoingMinusIncoming<typename Model::template Rebind<S>, Layer> cast() const {
    return HalfTraceOutgoingMinusIncoming<typename Model::template Rebind<S>, Layer>(model_.template cast<S>());
  }
  static std::string name() { return "half_trace_outgoing_minus_incoming_" + std::to_string(Layer); }

 private:
  Model model_;
};

namespace detail {

/// The weight view w as a dynamic-size column-major map over the same entries (what Mlp::weight_at
/// gives), so that the loops over junctions reduce in the same order whatever sizes a model fixes.
template <class W>
auto dynamic_view(const W& w) {
  return Eigen::Map<const Eigen::Matrix<typename W::Scalar, Dynamic, Dynamic>>(w.data(), w.rows(), w.cols());
}

/// The bias of junction I as the segment of θ it occupies, the expression Mlp's loops have always
/// used: with the same operand types on every model the products run the same code (a compiler
/// contracts a·b + c into fused multiply-adds differently for fixed- and dynamic-size operands).
template <int I, class Model, class D>
auto bias_segment(const Model& model, const Eigen::MatrixBase<D>& p) {
  const auto b = junction<Model, I>::in_bias(model, p);
  return p.segment(b.data() - p.derived().data(), b.size());
}

/// Every junction of Model is linear (LayerImbalanceTraces; on an Mlp they share the activation).
template <class Model>
constexpr void check_linear_junctions() {
  static_assert(junction_count<Model> >= 1, "symflow::LayerImbalanceTraces: the model has no hidden layer (no junction)");
  if constexpr (junction_count<Model> >= 1) {
    if constexpr (MlpModel<Model>) {
      check_linear_hidden_layer<Model, 1>();
    } else {
      []<int... I>(std::integer_sequence<int, I...>) {
        (check_linear_hidden_layer<Model, I>(), ...);
      }(junction_indices<Model>{});
    }
  }
}

template <class Model>
inline constexpr bool has_linear_junction = []<int... I>(std::integer_sequence<int, I...>) {
  return (GeneralLinearEquivariantActivation<typename junction<Model, I>::Activation> || ...);
}(junction_indices<Model>{});

}  // namespace detail

/// The traces of the layer imbalances of every junction, as one vector quantity: on a linear MLP entry
/// i − 1 is Tr Q_i of hidden layer i = 1, …, L − 1; on a Sequential (or a residual block's layers)
/// entry j is Tr Q_I of its j-th dense junction I (junction_indices<Net>, increasing), each one
/// LayerImbalanceTrace<Net, I>'s value, the same sums in the same order. Every junction must be
/// linear. The squared norm of a weight shared by two junctions (W_{i+1}: outgoing at i, incoming at
/// i + 1, as in an Mlp) is summed once.
template <class Model>
class LayerImbalanceTraces {
 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Eigen::Matrix<Scalar, junction_count<Model>, 1>;
  static constexpr bool is_quadratic = true;

  explicit LayerImbalanceTraces(Model model) : model_(std::move(model)) { detail::check_linear_junctions<Model>(); }
  const Model& model() const { return model_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    using A = accumulator_t<Scalar>;
    Value q;
    Index entry = 0;
    const Scalar* shared = nullptr;  // the previous junction's outgoing weight, and its ‖·‖²
    A shared_norm = 0;
    auto add = [&]<int I>() {
      using J = junction<Model, I>;
      const auto w_in = J::in_weight(model_, p);
      const auto w_out = J::out_weight(model_, p);
      const A incoming = w_in.data() == shared ? shared_norm : sum_of_squares(w_in);
      const A outgoing = sum_of_squares(w_out);
      A qi = incoming - outgoing;
      if constexpr (J::has_bias) qi += sum_of_squares(J::in_bias(model_, p));
      q[entry++] = static_cast<Scalar>(qi);
      shared = w_out.data();
      shared_norm = outgoing;
    };
    [&]<int... I>(std::integer_sequence<int, I...>) { (add.template operator()<I>(), ...); }(junction_indices<Model>{});
    return q;
  }

  template <class S>
  LayerImbalanceTraces<typename Model::template Rebind<S>> cast() const {
    return LayerImbalanceTraces<typename Model::template Rebind<S>>(model_.template cast<S>());
  }
  static std::string name() { return "layer_imbalance_traces"; }

 private:
  Model model_;
};

/// Q_i for a hidden layer (a junction) chosen at run time, as a dynamic-size h×h matrix, for loops
/// over the layers of a deep linear network: hidden layer i of an Mlp, or dense junction I of a
/// Sequential (or of a residual block's layers), named as in conserved<I>. Throws
/// std::out_of_range naming the junctions if `layer` is not one, and std::invalid_argument if its
/// activation is not linear (a Sequential with no linear junction at all does not compile).
template <class Model, class D>
Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic> layer_imbalance_at(const Model& model, int layer,
                                                                            const Eigen::MatrixBase<D>& p) {
  static_assert(detail::has_linear_junction<Model>,
                "symflow::layer_imbalance_at: no hidden layer (junction) of the model is linear (symflow::Identity, or "
                "an activation declared GeneralLinearEquivariant), so no layer imbalance is conserved; for ReLU, "
                "LeakyReLU or Homogeneous use symflow::ScalingImbalance");
  Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic> q;
  bool found = false;
  auto at = [&]<int I>() {
    if (layer != I) return;
    found = true;
    using J = junction<Model, I>;
    if constexpr (GeneralLinearEquivariantActivation<typename J::Activation>) {
      const auto w_in = detail::dynamic_view(J::in_weight(model, p));
      const auto w_out = detail::dynamic_view(J::out_weight(model, p));
      q.resize(w_in.rows(), w_in.rows());
      if constexpr (J::has_bias) detail::symmetric_difference(q, w_in, detail::bias_segment<I>(model, p), w_out);
      else detail::symmetric_difference(q, w_in, w_out);
    } else {
      throw std::invalid_argument("symflow::layer_imbalance_at: the activation of junction " + std::to_string(I) +
                                  " is not linear, so its layer imbalance is not conserved (ScalingImbalance is, "
                                  "for ReLU, LeakyReLU or Homogeneous)");
    }
  };
  [&]<int... I>(std::integer_sequence<int, I...>) { (at.template operator()<I>(), ...); }(junction_indices<Model>{});
  if (!found)
    throw std::out_of_range("symflow::layer_imbalance_at: layer " + std::to_string(layer) +
                            " is not a hidden layer (a junction) of the model; its junctions are " +
                            detail::junction_list(junction_indices<Model>{}));
  return q;
}

}  // namespace symflow
