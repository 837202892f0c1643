// SPDX-License-Identifier: MIT
#pragma once
/// \file The per-unit imbalance of a positively homogeneous hidden layer (Example 9):
/// Q_k = ‖row k of W_i‖² + b_{i,k}² − α ‖column k of W_{i+1}‖², one entry per hidden unit.
///
/// Derivation. If σ(cz) = c^α σ(z) for c > 0 (ReLU and LeakyReLU: α = 1; Homogeneous{α}), the
/// positive diagonal g = diag(c) acts by W_i ↦ g W_i, b_i ↦ g b_i, W_{i+1} ↦ W_{i+1} g^{−α}, since
/// σ(g z) = g^α σ(z). Its generator for M = diag(m) is (M W_i, M b_i, −α W_{i+1} M), so
/// Q_M = ⟨θ, M̄θ⟩ = Σ_k m_k (‖W_i[k,:]‖² + b_{i,k}² − α‖W_{i+1}[:,k]‖²) = ⟨m, Q⟩: the vector Q
/// holds every Q_M at once. Directly: along gradient flow,
/// d/dt ‖W_i[k,:]‖² + b_k² = −2 Σ_samples (W_{i+1}ᵀG)_k σ′(z_k) z_k = −2α Σ (W_{i+1}ᵀG)_k σ(z_k)
/// (Euler's identity z σ′(z) = α σ(z)) = α d/dt ‖W_{i+1}[:,k]‖², for every loss and batch.
/// The bias b_{i+1} of the next layer is not acted on and does not appear.
///
/// Sign convention: incoming minus outgoing, as LayerImbalance (for σ = identity, α = 1, Q is the
/// diagonal of the layer-imbalance matrix).

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/group/equivariance.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

namespace detail {

template <class Model, int Layer>
constexpr void check_homogeneous_hidden_layer() {
  check_junction_layer<Model, Layer>();
  if constexpr (is_junction<Model, Layer>)
    static_assert(ScalingEquivariantActivation<typename junction<Model, Layer>::Activation>,
                  "symflow::ScalingImbalance: the positive scaling symmetry needs a positively homogeneous activation "
                  "(ReLU, LeakyReLU, Homogeneous{alpha}, Identity), or a user activation declared ScalingEquivariant "
                  "with degree() (symflow/group/equivariance.hpp)");
}

}  // namespace detail

/// Q ∈ R^h with Q_k = ‖row k of W_i‖² + b_{i,k}² − α‖column k of W_{i+1}‖², i = Layer: conserved
/// by gradient flow unit by unit, for any loss and data. Any junction (of an Mlp, a Sequential, a
/// residual block): on a Sequential it equals the RescaleImbalance of conserved<I>(net).
template <class Model, int Layer = 1>
class ScalingImbalance {
  using Junction = junction<Model, Layer>;

 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  static constexpr int hidden = Junction::width;
  using Value = Eigen::Matrix<Scalar, hidden, 1>;
  static constexpr bool is_quadratic = true;

  explicit ScalingImbalance(Model model) : model_(std::move(model)) {
    detail::check_homogeneous_hidden_layer<Model, Layer>();
  }
  const Model& model() const { return model_; }
  /// α, the degree of homogeneity of the activation.
  double degree() const { return homogeneity_degree(Junction::activation(model_)); }

  /// Row norms of W_i and column norms of W_{i+1}: one streaming pass in memory order,
  /// O(h(n_{i−1} + n_{i+1})); sums and difference in double for float weights.
  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    using A = accumulator_t<Scalar>;
    auto q = row_sums_of_squares(Junction::in_weight(model_, p));
    if constexpr (Junction::has_bias) q += Junction::in_bias(model_, p).template cast<A>().cwiseAbs2();
    q.noalias() -= A(degree()) * column_sums_of_squares(Junction::out_weight(model_, p));
    if constexpr (std::is_same_v<A, Scalar>) return q;
    else return q.template cast<Scalar>();
  }

  template <class S>
  ScalingImbalance<typename Model::template Rebind<S>, Layer> cast() const {
    return ScalingImbalance<typename Model::template Rebind<S>, Layer>(model_.template cast<S>());
  }
  static std::string name() { return "scaling_imbalance_" + std::to_string(Layer); }

 private:
  Model model_;
};

namespace detail {

/// One junction's Q written into `block`: ‖rows of W_in‖² (+ b²) − α‖columns of W_out‖², the
/// weights as dynamic-size views (dynamic_view), in double for float weights, as ScalingImbalance.
template <class Block, class WIn, class WOut, class Bias = std::nullptr_t>
void scaling_imbalance_block(Block block, const WIn& w_in, const WOut& w_out, double alpha, const Bias& bias = nullptr) {
  constexpr bool has_bias = !std::is_null_pointer_v<Bias>;
  using Scalar = typename WIn::Scalar;
  using A = accumulator_t<Scalar>;
  if constexpr (std::is_same_v<A, Scalar>) {
    block = w_in.rowwise().squaredNorm();
    if constexpr (has_bias) block += bias.cwiseAbs2();
    block.noalias() -= Scalar(alpha) * w_out.colwise().squaredNorm().transpose();
  } else {
    // Float: sums and difference in double, as ScalingImbalance.
    Eigen::Matrix<A, Dynamic, 1> wide = row_sums_of_squares(w_in);
    if constexpr (has_bias) wide += bias.template cast<A>().cwiseAbs2();
    wide.noalias() -= A(alpha) * column_sums_of_squares(w_out);
    block = wide.template cast<Scalar>();
  }
}

}  // namespace detail

/// The per-unit scaling imbalances of every junction, stacked into one vector, for deep homogeneous
/// networks: hidden layers 1, …, L − 1 of an Mlp (layer 1's units first), or the dense junctions I of
/// a Sequential (or of a residual block's layers) in increasing order (junction_indices<Net>), each
/// with the degree of its own activation — block j is ScalingImbalance<Net, I_j>'s Q.
template <class Model>
class ScalingImbalances {
  template <int... I>
  static constexpr int count_hidden(std::integer_sequence<int, I...>) {
    int total = 0;
    ((total = add_sizes(total, junction<Model, I>::width)), ...);
    return total;
  }

 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Eigen::Matrix<Scalar, count_hidden(junction_indices<Model>{}), 1>;
  static constexpr bool is_quadratic = true;

  explicit ScalingImbalances(Model model) : model_(std::move(model)) {
    static_assert(junction_count<Model> >= 1, "symflow::ScalingImbalances: the model has no hidden layer (no junction)");
    if constexpr (MlpModel<Model>) {
      detail::check_homogeneous_hidden_layer<Model, 1>();
    } else {
      []<int... I>(std::integer_sequence<int, I...>) {
        (detail::check_homogeneous_hidden_layer<Model, I>(), ...);
      }(junction_indices<Model>{});
    }
  }
  const Model& model() const { return model_; }

  /// Σ h over the junctions.
  Index size() const {
    return [&]<int... I>(std::integer_sequence<int, I...>) {
      return (Index{0} + ... + junction<Model, I>::hidden(model_));
    }(junction_indices<Model>{});
  }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    Value q(size());
    Index offset = 0;
    auto add = [&]<int I>() {
      using J = junction<Model, I>;
      const Index h = J::hidden(model_);
      const auto w_in = detail::dynamic_view(J::in_weight(model_, p));
      const auto w_out = detail::dynamic_view(J::out_weight(model_, p));
      const double alpha = homogeneity_degree(J::activation(model_));
      if constexpr (J::has_bias) detail::scaling_imbalance_block(q.segment(offset, h), w_in, w_out, alpha, detail::bias_segment<I>(model_, p));
      else detail::scaling_imbalance_block(q.segment(offset, h), w_in, w_out, alpha);
      offset += h;
    };
    [&]<int... I>(std::integer_sequence<int, I...>) { (add.template operator()<I>(), ...); }(junction_indices<Model>{});
    return q;
  }

  template <class S>
  ScalingImbalances<typename Model::template Rebind<S>> cast() const {
    return ScalingImbalances<typename Model::template Rebind<S>>(model_.template cast<S>());
  }
  static std::string name() { return "scaling_imbalances"; }

 private:
  Model model_;
};

}  // namespace symflow
