// SPDX-License-Identifier: MIT
#pragma once
/// \file Class predictions and the majority vote (mode) of an ensemble's predictions.
///
/// A prediction is the index of the largest logit; among equal largest logits the smallest index
/// wins (as numpy's and PyTorch's argmax). The vote of n members on a sample is the class predicted
/// most often; among classes with equally many votes the smallest index wins, so the vote is a
/// deterministic function of the members' predictions.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "symflow/core/config.hpp"

namespace symflow {

/// Predictions of several members (rows) on several samples (columns).
using PredictionMatrix = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic>;

/// argmax of each column of `logits` (first index on ties): the predicted classes.
template <class Derived>
std::vector<int> predicted_classes(const Eigen::MatrixBase<Derived>& logits) {
  std::vector<int> classes(static_cast<std::size_t>(logits.cols()));
  for (Index j = 0; j < logits.cols(); ++j) {
    Index best = 0;
    for (Index c = 1; c < logits.rows(); ++c)
      if (logits(c, j) > logits(best, j)) best = c;
    classes[static_cast<std::size_t>(j)] = static_cast<int>(best);
  }
  return classes;
}

/// Fraction of predictions equal to the labels.
inline double accuracy(const std::vector<int>& predictions, const std::vector<int>& labels) {
  if (predictions.size() != labels.size())
    throw std::invalid_argument("symflow::accuracy: " + std::to_string(predictions.size()) + " predictions for " +
                                std::to_string(labels.size()) + " labels");
  if (labels.empty()) throw std::invalid_argument("symflow::accuracy: no samples");
  std::size_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += predictions[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

/// The mode, per sample (column), of the predictions of the first `members` rows of
/// `predictions` (all rows when `members` is negative), over classes 0, …, classes − 1; ties go to
/// the smallest class.
inline std::vector<int> majority_vote(const PredictionMatrix& predictions, int classes, Index members = -1) {
  if (members < 0) members = predictions.rows();
  if (members < 1 || members > predictions.rows())
    throw std::invalid_argument("symflow::majority_vote: " + std::to_string(members) + " members requested, " +
                                std::to_string(predictions.rows()) + " available");
  if (classes < 1) throw std::invalid_argument("symflow::majority_vote: the number of classes must be positive");
  std::vector<int> vote(static_cast<std::size_t>(predictions.cols()));
  std::vector<Index> counts(static_cast<std::size_t>(classes));
  for (Index j = 0; j < predictions.cols(); ++j) {
    std::fill(counts.begin(), counts.end(), Index(0));
    for (Index r = 0; r < members; ++r) {
      const int c = predictions(r, j);
      if (c < 0 || c >= classes)
        throw std::invalid_argument("symflow::majority_vote: prediction " + std::to_string(c) + " is not a class 0…" +
                                    std::to_string(classes - 1));
      ++counts[static_cast<std::size_t>(c)];
    }
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (counts[static_cast<std::size_t>(c)] > counts[static_cast<std::size_t>(best)]) best = c;
    vote[static_cast<std::size_t>(j)] = best;
  }
  return vote;
}

}  // namespace symflow
