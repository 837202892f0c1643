// SPDX-License-Identifier: MIT
#pragma once
/// \file A trained classifier: a model with its parameters θ. It gives the logits F_θ(X), the
/// predicted classes, and the gradient with respect to the input X of the softmax cross-entropy
/// L(X) = −(1/k) Σ_j log softmax(F_θ(x_j))_{y_j}, which the input attacks follow.

#include <concepts>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/ensemble/vote.hpp"
#include "symflow/model/loss.hpp"
#include "symflow/model/mlp.hpp"
#include "symflow/model/objective.hpp"

namespace symflow {

/// One-hot targets Y ∈ R^{classes × k} for integer labels; throws on a label outside 0…classes−1.
template <class Scalar>
Eigen::Matrix<Scalar, Dynamic, Dynamic> one_hot_targets(const std::vector<int>& labels, Index classes) {
  Eigen::Matrix<Scalar, Dynamic, Dynamic> y = Eigen::Matrix<Scalar, Dynamic, Dynamic>::Zero(classes, static_cast<Index>(labels.size()));
  for (std::size_t j = 0; j < labels.size(); ++j) {
    if (labels[j] < 0 || labels[j] >= classes)
      throw std::invalid_argument("symflow: label " + std::to_string(labels[j]) + " of sample " + std::to_string(j) +
                                  " is outside the classes 0…" + std::to_string(classes - 1));
    y(labels[j], static_cast<Index>(j)) = Scalar(1);
  }
  return y;
}

/// What an input attack needs from its target: the gradient, with respect to inputs X of type
/// Matrix (samples are columns), of the loss of its predictions against integer labels.
template <class C, class Matrix>
concept InputDifferentiableClassifier = requires(const C& c, const Matrix& x, const std::vector<int>& y) {
  { c.loss_input_gradient(x, y) } -> std::convertible_to<Matrix>;
};

/// A model with fixed parameters, used as a classifier (the output has one logit per class).
template <MlpModel Model>
class Classifier {
 public:
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;

  Classifier(Model model, Params params) : model_(std::move(model)), params_(std::move(params)) {
    model_.check_params(params_);
  }

  const Model& model() const { return model_; }
  const Params& params() const { return params_; }
  /// Number of classes (the output width).
  Index classes() const { return model_.output_size(); }

  /// F_θ(X), one column of logits per sample.
  template <class Derived>
  Matrix logits(const Eigen::MatrixBase<Derived>& x) const {
    return model_.forward(params_, x);
  }

  /// argmax of the logits, per sample.
  template <class Derived>
  std::vector<int> predict(const Eigen::MatrixBase<Derived>& x) const {
    return predicted_classes(logits(x));
  }

  /// ∂L/∂X for L the mean softmax cross-entropy over the k samples (Objective::input_gradient):
  /// column j is (1/k) ∂/∂x_j of −log softmax(F_θ(x_j))_{y_j}.
  template <class Derived>
  Matrix loss_input_gradient(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    detail::require_length("labels", x.cols(), static_cast<Index>(labels.size()));
    const Objective<Model, SoftmaxCrossEntropy, Dynamic> objective(model_, SoftmaxCrossEntropy{}, x.eval(),
                                                                    one_hot_targets<Scalar>(labels, classes()));
    return objective.input_gradient(params_);
  }

  /// Mean softmax cross-entropy of the predictions against the labels.
  template <class Derived>
  Scalar loss(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    detail::require_length("labels", x.cols(), static_cast<Index>(labels.size()));
    return SoftmaxCrossEntropy{}.value(logits(x), one_hot_targets<Scalar>(labels, classes()));
  }

 private:
  Model model_;
  Params params_;
};

}  // namespace symflow
