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

/// The traces of the layer imbalances of every hidden layer 1, …, L − 1 of a linear MLP, as one
/// vector quantity (entry i − 1 is Tr Q_i).
template <MlpModel Model>
class LayerImbalanceTraces {
 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Eigen::Matrix<Scalar, Model::depth - 1, 1>;
  static constexpr bool is_quadratic = true;

  explicit LayerImbalanceTraces(Model model) : model_(std::move(model)) {
    static_assert(Model::depth >= 2, "symflow::LayerImbalanceTraces: the model has no hidden layer");
    detail::check_linear_hidden_layer<Model, 1>();
  }
  const Model& model() const { return model_; }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    Value q;
    accumulator_t<Scalar> previous = sum_of_squares(model_.weight_at(1, p));
    for (int i = 1; i < Model::depth; ++i) {
      const accumulator_t<Scalar> next = sum_of_squares(model_.weight_at(i + 1, p));
      accumulator_t<Scalar> qi = previous - next;
      if constexpr (Model::has_bias) qi += sum_of_squares(p.segment(model_.bias_offset(i), model_.width(i)));
      q[i - 1] = static_cast<Scalar>(qi);
      previous = next;
    }
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

/// Q_i for a hidden layer chosen at run time (a dynamic-size h×h matrix), for loops over the
/// layers of a deep linear network.
template <MlpModel Model, class D>
Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic> layer_imbalance_at(const Model& model, int layer,
                                                                            const Eigen::MatrixBase<D>& p) {
  detail::check_linear_hidden_layer<Model, 1>();
  if (layer < 1 || layer >= Model::depth)
    throw std::out_of_range("symflow::layer_imbalance_at: layer " + std::to_string(layer) +
                            " is not a hidden layer; hidden layers are 1, …, " + std::to_string(Model::depth - 1));
  const auto w_in = model.weight_at(layer, p);
  const auto w_out = model.weight_at(layer + 1, p);
  Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic> q(w_in.rows(), w_in.rows());
  if constexpr (Model::has_bias) {
    detail::symmetric_difference(q, w_in, p.segment(model.bias_offset(layer), model.width(layer)), w_out);
  } else {
    detail::symmetric_difference(q, w_in, w_out);
  }
  return q;
}

}  // namespace symflow
