// SPDX-License-Identifier: MIT
#pragma once
/// \file The last two layers of a multilayer perceptron as a two-layer block,
///
///   F(A) = U σ(V A + b 1ᵀ) + c 1ᵀ,   V = W_{L−1} ∈ R^{h×n}, U = W_L ∈ R^{m×h},
///
/// where A ∈ R^{n×k} is the block's input: the inputs X themselves when L = 2, the features
/// σ(z_{L−2}) entering W_{L−1} otherwise. Appendix H of the paper transforms exactly this block.
/// b and c are the biases of a BiasedMlp (empty for an Mlp).

#include <stdexcept>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

/// The two-layer block (V, b, U, c) of the last two layers.
template <class Scalar>
struct LastLayers {
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Dynamic, 1>;
  /// W_{L−1} ∈ R^{h×n}.
  Matrix V;
  /// b_{L−1} ∈ R^h, empty without biases.
  Vector b;
  /// W_L ∈ R^{m×h}.
  Matrix U;
  /// b_L ∈ R^m, empty without biases.
  Vector c;

  bool has_bias() const { return b.size() > 0; }
  /// n, the width of the block's input.
  Index input_size() const { return V.cols(); }
  /// h, the hidden width the group GL_h acts on.
  Index hidden() const { return V.rows(); }
  /// m, the number of outputs.
  Index output_size() const { return U.rows(); }

  /// H = V A + b 1ᵀ: the hidden pre-activations for block inputs A.
  template <class Derived>
  Matrix hidden_preactivations(const Eigen::MatrixBase<Derived>& a) const {
    detail::require_shape("block input A", input_size(), a.cols(), a.rows(), a.cols());
    Matrix h = V * a;
    if (has_bias()) h.colwise() += b;
    return h;
  }

  /// F(A) = U σ(V A + b 1ᵀ) + c 1ᵀ.
  template <class Act, class Derived>
  Matrix outputs(const Act& activation, const Eigen::MatrixBase<Derived>& a) const {
    Matrix f = U * detail::activate(activation, hidden_preactivations(a));
    if (c.size() > 0) f.colwise() += c;
    return f;
  }
};

/// The block (W_{L−1}, b_{L−1}, W_L, b_L) of the model's last two layers at θ.
template <MlpModel Model, class Derived>
LastLayers<typename Model::Scalar> last_layers(const Model& model, const Eigen::MatrixBase<Derived>& theta) {
  static_assert(Model::depth >= 2, "symflow::last_layers: the model needs at least two layers");
  constexpr int L = Model::depth;
  LastLayers<typename Model::Scalar> block;
  block.V = model.template weight<L - 1>(theta);
  block.U = model.template weight<L>(theta);
  if constexpr (Model::has_bias) {
    block.b = model.template bias<L - 1>(theta);
    block.c = model.template bias<L>(theta);
  }
  return block;
}

/// θ with its last two layers replaced by `block`; throws std::invalid_argument naming the
/// expected shape when a matrix of the block does not fit the model.
template <MlpModel Model>
typename Model::Params with_last_layers(const Model& model, typename Model::Params theta,
                                        const LastLayers<typename Model::Scalar>& block) {
  static_assert(Model::depth >= 2, "symflow::with_last_layers: the model needs at least two layers");
  constexpr int L = Model::depth;
  model.check_params(theta);
  detail::require_shape("block V = W_{L-1}", model.width(L - 1), model.width(L - 2), block.V.rows(), block.V.cols());
  detail::require_shape("block U = W_L", model.width(L), model.width(L - 1), block.U.rows(), block.U.cols());
  model.template weight<L - 1>(theta) = block.V;
  model.template weight<L>(theta) = block.U;
  if constexpr (Model::has_bias) {
    detail::require_length("block bias b_{L-1}", model.width(L - 1), block.b.size());
    detail::require_length("block bias b_L", model.width(L), block.c.size());
    model.template bias<L - 1>(theta) = block.b;
    model.template bias<L>(theta) = block.c;
  } else if (block.has_bias() || block.c.size() > 0) {
    throw std::invalid_argument("symflow::with_last_layers: the block has biases but the model has none");
  }
  return theta;
}

/// The block's input A for samples X: X itself for a two-layer model, otherwise the features
/// σ(z_{L−2}) that enter W_{L−1}.
template <MlpModel Model, class DerivedP, class DerivedX>
Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic> block_inputs(const Model& model,
                                                                     const Eigen::MatrixBase<DerivedP>& theta,
                                                                     const Eigen::MatrixBase<DerivedX>& x) {
  constexpr int L = Model::depth;
  model.check_params(theta);
  model.check_input(x);
  if constexpr (L == 2) {
    return x;
  } else {
    typename Model::template ForwardPass<Dynamic> pass;
    model.forward(theta, x, pass);
    return pass.template post<L - 2>();
  }
}

}  // namespace symflow
