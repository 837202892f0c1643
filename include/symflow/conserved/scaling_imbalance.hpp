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

/// The per-unit scaling imbalances of every hidden layer 1, …, L − 1, stacked into one vector
/// (layer 1's units first), for deep homogeneous networks.
template <MlpModel Model>
class ScalingImbalances {
  static constexpr int count_hidden() {
    int total = 0;
    for (int i = 1; i < Model::depth; ++i) total = add_sizes(total, Model::static_widths[i]);
    return total;
  }

 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Value = Eigen::Matrix<Scalar, count_hidden(), 1>;
  static constexpr bool is_quadratic = true;

  explicit ScalingImbalances(Model model) : model_(std::move(model)) {
    static_assert(Model::depth >= 2, "symflow::ScalingImbalances: the model has no hidden layer");
    detail::check_homogeneous_hidden_layer<Model, 1>();
  }
  const Model& model() const { return model_; }

  /// Σ_i n_i over the hidden layers.
  Index size() const {
    Index total = 0;
    for (int i = 1; i < Model::depth; ++i) total += model_.width(i);
    return total;
  }

  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    Value q(size());
    [[maybe_unused]] const Scalar alpha(homogeneity_degree(model_.activation()));
    Index offset = 0;
    for (int i = 1; i < Model::depth; ++i) {
      const Index h = model_.width(i);
      auto block = q.segment(offset, h);
      if constexpr (std::is_same_v<accumulator_t<Scalar>, Scalar>) {
        block = model_.weight_at(i, p).rowwise().squaredNorm();
        if constexpr (Model::has_bias) block += p.segment(model_.bias_offset(i), h).cwiseAbs2();
        block.noalias() -= alpha * model_.weight_at(i + 1, p).colwise().squaredNorm().transpose();
      } else {
        // Float: sums and difference in double, as ScalingImbalance.
        using A = accumulator_t<Scalar>;
        Eigen::Matrix<A, Dynamic, 1> wide = row_sums_of_squares(model_.weight_at(i, p));
        if constexpr (Model::has_bias) wide += p.segment(model_.bias_offset(i), h).template cast<A>().cwiseAbs2();
        wide.noalias() -= A(homogeneity_degree(model_.activation())) * column_sums_of_squares(model_.weight_at(i + 1, p));
        block = wide.template cast<Scalar>();
      }
      offset += h;
    }
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
