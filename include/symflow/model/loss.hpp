// SPDX-License-Identifier: MIT
#pragma once
/// \file Losses on the network output F ∈ R^{m×k} against targets Y ∈ R^{m×k} (samples are
/// columns). Each gives value(F, Y) and gradient(F, Y) = ∂loss/∂F.

#include <cmath>
#include <concepts>
#include <string>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow {

/// A loss provides value(F, Y) and gradient(F, Y) for matrices F, Y of the same shape.
template <class L>
concept Loss = requires(const L& l, const Eigen::MatrixXd& f, const Eigen::MatrixXd& y) {
  { l.value(f, y) } -> std::convertible_to<double>;
  { l.gradient(f, y) } -> std::convertible_to<Eigen::MatrixXd>;
};

/// ½‖Y − F‖²_F: the paper's theory. Gradient F − Y.
struct HalfSquaredError {
  template <class DF, class DY>
  typename DF::Scalar value(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    return typename DF::Scalar(0.5) * (f - y).squaredNorm();
  }
  template <class DF, class DY>
  typename DF::PlainObject gradient(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    return f - y;
  }
  static std::string name() { return "half_squared_error"; }
};

/// (1 / (m·k)) ‖Y − F‖²_F: the mean over all entries, as PyTorch's MSELoss(reduction='mean').
/// Gradient 2(F − Y)/(m·k).
struct MeanSquaredError {
  template <class DF, class DY>
  typename DF::Scalar value(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    using S = typename DF::Scalar;
    return (f - y).squaredNorm() / S(static_cast<double>(f.size()));
  }
  template <class DF, class DY>
  typename DF::PlainObject gradient(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    using S = typename DF::Scalar;
    return (S(2) / S(static_cast<double>(f.size()))) * (f - y);
  }
  static std::string name() { return "mean_squared_error"; }
};

/// Softmax cross-entropy averaged over the k samples, −(1/k) Σ_j Σ_c Y_cj log softmax(F_j)_c, with
/// Y holding one-hot (or probability) columns: PyTorch's CrossEntropyLoss(reduction='mean').
/// Gradient (softmax(F) − Y)/k when each column of Y sums to one.
struct SoftmaxCrossEntropy {
  template <class DF, class DY>
  typename DF::Scalar value(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    using S = typename DF::Scalar;
    using std::exp;
    using std::log;
    S total(0);
    for (Index j = 0; j < f.cols(); ++j) {
      const S top = f.col(j).maxCoeff();
      S sum(0);
      for (Index c = 0; c < f.rows(); ++c) sum += exp(f(c, j) - top);
      const S log_normaliser = top + log(sum);
      for (Index c = 0; c < f.rows(); ++c) total -= y(c, j) * (f(c, j) - log_normaliser);
    }
    return total / S(static_cast<double>(f.cols()));
  }
  template <class DF, class DY>
  typename DF::PlainObject gradient(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    using S = typename DF::Scalar;
    typename DF::PlainObject g(f.rows(), f.cols());
    const S inv_k = S(1) / S(static_cast<double>(f.cols()));
    for (Index j = 0; j < f.cols(); ++j) {
      const S top = f.col(j).maxCoeff();
      S sum(0);
      for (Index c = 0; c < f.rows(); ++c) {
        using std::exp;
        g(c, j) = exp(f(c, j) - top);
        sum += g(c, j);
      }
      const S ysum = y.col(j).sum();
      for (Index c = 0; c < f.rows(); ++c) g(c, j) = (ysum * g(c, j) / sum - y(c, j)) * inv_k;
    }
    return g;
  }
  static std::string name() { return "softmax_cross_entropy"; }
};

}  // namespace symflow
