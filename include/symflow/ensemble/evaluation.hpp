// SPDX-License-Identifier: MIT
#pragma once
/// \file What an ensemble's members predict on labelled samples, and the accuracy and loss of the
/// ensemble made of its first n members.
///
/// For members j = 1…N and samples i = 1…k it keeps the predicted class ŷ_ji and the log-probability
/// log p_ji = log softmax(F_j(x_i))_{y_i} of the true class. The ensemble of the first n members
///  - predicts the majority vote (mode) of ŷ_1i, …, ŷ_ni (ties: smallest class), and
///  - has loss −(1/k) Σ_i log((1/n) Σ_{j≤n} p_ji): the cross-entropy of the averaged predictive
///    distribution (computed with log-sum-exp, so a vanishing p_ji does not overflow).
/// A single model is the ensemble of one member: its loss is then its softmax cross-entropy.

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/ensemble/vote.hpp"

namespace symflow {

/// log softmax(f)_c for one column of logits f (shifted by the maximum, so it never overflows).
template <class Derived>
double log_softmax_at(const Eigen::MatrixBase<Derived>& f, Index c) {
  using std::exp;
  using std::log;
  const auto top = f.maxCoeff();
  double sum = 0;
  for (Index r = 0; r < f.rows(); ++r) sum += static_cast<double>(exp(f(r) - top));
  return static_cast<double>(f(c) - top) - std::log(sum);
}

/// Predictions and true-class log-probabilities of N members on k labelled samples.
struct EnsembleEvaluation {
  /// ŷ_ji: members × samples.
  PredictionMatrix predictions;
  /// log p_ji: members × samples.
  Eigen::MatrixXd log_probabilities;
  std::vector<int> labels;
  int classes = 0;

  Index members() const { return predictions.rows(); }
  Index samples() const { return predictions.cols(); }

  /// Majority vote of the first n members (all when n < 0), per sample.
  std::vector<int> vote(Index n = -1) const { return majority_vote(predictions, classes, n); }

  /// Accuracy of the majority vote of the first n members (all when n < 0).
  double accuracy(Index n = -1) const { return symflow::accuracy(vote(n), labels); }

  /// −(1/k) Σ_i log((1/n) Σ_{j≤n} p_ji), for the first n members (all when n < 0).
  double loss(Index n = -1) const {
    n = checked(n);
    double total = 0;
    for (Index i = 0; i < samples(); ++i) {
      const double top = log_probabilities.col(i).head(n).maxCoeff();
      if (top == -std::numeric_limits<double>::infinity()) return std::numeric_limits<double>::infinity();
      double sum = 0;
      for (Index j = 0; j < n; ++j) sum += std::exp(log_probabilities(j, i) - top);
      total -= top + std::log(sum / static_cast<double>(n));
    }
    return total / static_cast<double>(samples());
  }

  /// Accuracy of member j on its own.
  double member_accuracy(Index j) const {
    std::vector<int> p(static_cast<std::size_t>(samples()));
    for (Index i = 0; i < samples(); ++i) p[static_cast<std::size_t>(i)] = predictions(j, i);
    return symflow::accuracy(p, labels);
  }

  /// Softmax cross-entropy of member j on its own, −(1/k) Σ_i log p_ji.
  double member_loss(Index j) const { return -log_probabilities.row(j).mean(); }

  /// Mean over the first n members of their own accuracies.
  double mean_member_accuracy(Index n = -1) const {
    n = checked(n);
    double s = 0;
    for (Index j = 0; j < n; ++j) s += member_accuracy(j);
    return s / static_cast<double>(n);
  }

  /// Mean over the first n members of their own losses.
  double mean_member_loss(Index n = -1) const {
    n = checked(n);
    return -log_probabilities.topRows(n).mean();
  }

 private:
  Index checked(Index n) const {
    if (n < 0) n = members();
    if (n < 1 || n > members())
      throw std::invalid_argument("symflow::EnsembleEvaluation: " + std::to_string(n) + " members requested, " +
                                  std::to_string(members()) + " evaluated");
    return n;
  }
};

}  // namespace symflow
