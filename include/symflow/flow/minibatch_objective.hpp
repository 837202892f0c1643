// SPDX-License-Identifier: MIT
#pragma once
/// \file MiniBatchObjective: the loss of a model on a mini-batch of a data set, with a new batch on
/// every call of next_batch(). Any integrator run on it becomes its stochastic version (gradient
/// descent becomes mini-batch SGD, Adam becomes mini-batch Adam).
///
/// The data set X ∈ R^{n0×N}, Y ∈ R^{m×N} (samples are columns) is owned. The batch (X_B, Y_B) is
/// gathered into buffers allocated once; with a compile-time batch size B and a fixed-size model a
/// step allocates nothing. With B = N (without replacement) the batch is the data set itself, in
/// order, gathered once: the objective then equals Objective(model, loss, X, Y) bit for bit.

#include <random>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/flow/batch_sampler.hpp"
#include "symflow/model/loss.hpp"

namespace symflow {

/// L_B(θ) = loss(F_θ(X_B), Y_B) for the current batch B of a data set (X, Y).
/// Batch is the batch size at compile time (or Dynamic); Rng the generator that draws the batches.
template <class Model, class LossT, int Batch = Dynamic, class Rng = std::mt19937_64>
class MiniBatchObjective {
  static_assert(Loss<LossT>, "symflow::MiniBatchObjective: the loss must provide value(F, Y) and gradient(F, Y)");
  static_assert(Batch == Dynamic || Batch > 0, "symflow::MiniBatchObjective: the batch size must be positive or Dynamic");

 public:
  using ModelType = Model;
  using LossType = LossT;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  static constexpr int batch_at_compile_time = Batch;
  /// The whole data set.
  using Inputs = Eigen::Matrix<Scalar, Model::input_width, Dynamic>;
  using Targets = Eigen::Matrix<Scalar, Model::output_width, Dynamic>;
  /// One batch.
  using BatchInput = Eigen::Matrix<Scalar, Model::input_width, Batch>;
  using BatchTarget = Eigen::Matrix<Scalar, Model::output_width, Batch>;

  /// Takes the data set (X: n0 × N, Y: m × N) and draws the first batch of `batch_size` samples.
  /// X's and Y's rows are checked before they are converted to the fixed-row Inputs and Targets.
  template <class DX, class DY>
    requires std::is_base_of_v<Eigen::MatrixBase<std::remove_cvref_t<DX>>, std::remove_cvref_t<DX>> &&
             std::is_base_of_v<Eigen::MatrixBase<std::remove_cvref_t<DY>>, std::remove_cvref_t<DY>>
  MiniBatchObjective(Model model, LossT loss, DX&& x, DY&& y, Index batch_size, Rng rng,
                     Sampling sampling = Sampling::without_replacement)
      : model_(std::move(model)),
        loss_(std::move(loss)),
        x_(checked_rows(model_, std::forward<DX>(x))),
        y_(checked_target_rows(model_, std::forward<DY>(y))),
        sampler_(checked_samples(model_, x_, y_, batch_size), batch_size, std::move(rng), sampling),
        xb_(x_.rows(), batch_size),
        yb_(y_.rows(), batch_size) {
    gather();
  }

  /// Moves on to the next batch (gathers its columns into the batch buffers).
  void next_batch() {
    sampler_.next();
    if (!sampler_.full_batch()) gather();
  }

  /// L_B(θ) on the current batch.
  Scalar value(const Params& p) const {
    model_.check_params(p);
    return loss_.value(model_.forward(p, xb_), yb_);
  }

  /// L_B(θ), writing ∇L_B(θ) into `grad` (resized if dynamic). The same computation as
  /// Objective::value_and_gradient on (X_B, Y_B).
  Scalar value_and_gradient(const Params& p, Params& grad) const {
    model_.check_params(p);
    if constexpr (Model::num_params == Dynamic) grad.resize(p.size());
    typename Model::template ForwardPass<Batch> pass;
    model_.forward(p, xb_, pass);
    const typename Model::template Features<Model::depth, Batch> g = loss_.gradient(pass.output(), yb_);
    model_.backward(p, pass, g, grad);
    return loss_.value(pass.output(), yb_);
  }

  /// ∇L_B(θ).
  Params gradient(const Params& p) const {
    Params g(model_.size());
    value_and_gradient(p, g);
    return g;
  }

  /// L(θ) on the whole data set (allocates the full forward pass).
  Scalar dataset_value(const Params& p) const {
    model_.check_params(p);
    return loss_.value(model_.forward(p, x_), y_);
  }

  const Model& model() const { return model_; }
  const LossT& loss() const { return loss_; }
  const Inputs& inputs() const { return x_; }
  const Targets& targets() const { return y_; }
  const BatchInput& batch_inputs() const { return xb_; }
  const BatchTarget& batch_targets() const { return yb_; }
  /// Sorted indices of the current batch's samples.
  const std::vector<Index>& batch_indices() const { return sampler_.indices(); }
  const BatchSampler<Rng>& sampler() const { return sampler_; }
  /// N.
  Index samples() const { return x_.cols(); }
  Index batch_size() const { return sampler_.batch_size(); }
  /// d.
  Index size() const { return model_.size(); }

 private:
  template <class DX>
  static DX&& checked_rows(const Model& model, DX&& x) {
    model.check_input(x);
    return std::forward<DX>(x);
  }
  template <class DY>
  static DY&& checked_target_rows(const Model& model, DY&& y) {
    if (y.rows() != model.output_size())
      throw std::invalid_argument("symflow: targets Y has shape " + detail::shape_string(y.rows(), y.cols()) +
                                  ", expected " + std::to_string(model.output_size()) + " rows (samples are columns)");
    return std::forward<DY>(y);
  }
  static Index checked_samples(const Model& model, const Inputs& x, const Targets& y, Index batch_size) {
    model.check_input(x);
    detail::require_shape("targets Y", model.output_size(), x.cols(), y.rows(), y.cols());
    if (Batch != Dynamic && batch_size != Batch)
      throw std::invalid_argument("symflow::MiniBatchObjective: batch size " + std::to_string(batch_size) +
                                  ", but the type fixes it to " + std::to_string(Batch));
    return x.cols();
  }

  void gather() {
    const auto& idx = sampler_.indices();
    for (Index j = 0; j < static_cast<Index>(idx.size()); ++j) {
      xb_.col(j) = x_.col(idx[static_cast<std::size_t>(j)]);
      yb_.col(j) = y_.col(idx[static_cast<std::size_t>(j)]);
    }
  }

  Model model_;
  LossT loss_;
  Inputs x_;
  Targets y_;
  BatchSampler<Rng> sampler_;
  BatchInput xb_;
  BatchTarget yb_;
};

}  // namespace symflow
