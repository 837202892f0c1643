// SPDX-License-Identifier: MIT
#pragma once
/// \file An ensemble of networks that share a trained model's layers 1, …, L−2 and differ in their
/// last two layers: member j computes F_j(X) = U_j σ(V_j A + b_j 1ᵀ) + c_j 1ᵀ on the shared block
/// input A (see symflow/ensemble/last_layers.hpp). Appendix H of the paper builds such ensembles by
/// transforming the last two layers of one trained network.
///
/// The ensemble predicts by majority vote of its members (symflow/ensemble/vote.hpp). Attacks on
/// it follow the gradient of the softmax cross-entropy of the *averaged logits*
/// F̄(X) = (1/N) Σ_j F_j(X): a smooth surrogate of the vote, which has no useful gradient. For an
/// elementwise activation F̄ is itself one wider network, with hidden layer L−1 the N member
/// layers stacked,
///
///   F̄(X) = [U_1 ⋯ U_N]/N · σ([V_1; ⋯; V_N] A + [b_1; ⋯; b_N] 1ᵀ) + c̄ 1ᵀ,   c̄ = (1/N) Σ_j c_j,
///
/// so its input gradient is that network's back-propagation (Objective::input_gradient).
///
/// A second surrogate, the loss of the averaged predictive distribution
/// L(X) = −(1/k) Σ_i log((1/N) Σ_j softmax(F_j(x_i))_{y_i}) (the ensemble loss of
/// symflow/ensemble/evaluation.hpp), weighs member j at sample i by its share
/// w_ji = p_ji / Σ_l p_li of the true-class probability: ∂L/∂F_j(x_i) = (1/k) w_ji (softmax(F_j(x_i)) − e_{y_i}).
/// A member with huge logits dominates F̄ but not this loss. Its gradient back-propagates
/// Σ_j U_jᵀ ∂L/∂F_j, stacked over the members, through the network that ends at the stacked hidden
/// pre-activations (MemberwiseNetwork).

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/ensemble/classifier.hpp"
#include "symflow/ensemble/detail/parallel.hpp"
#include "symflow/ensemble/evaluation.hpp"
#include "symflow/ensemble/last_layers.hpp"
#include "symflow/ensemble/vote.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

namespace detail {

template <int>
inline constexpr int dynamic_width = Dynamic;

template <class Model>
struct with_dynamic_widths;
template <class S, class A, bool B, int... W>
struct with_dynamic_widths<Perceptron<S, A, B, W...>> {
  using type = Perceptron<S, A, B, dynamic_width<W>...>;
};

template <std::size_t>
inline constexpr int dynamic_index_width = Dynamic;

/// The same kind of perceptron with one layer fewer, all widths Dynamic.
template <class Model>
struct without_last_layer;
template <class S, class A, bool B, int... W>
struct without_last_layer<Perceptron<S, A, B, W...>> {
  template <std::size_t... I>
  static auto make(std::index_sequence<I...>) -> Perceptron<S, A, B, dynamic_index_width<I>...>;
  using type = decltype(make(std::make_index_sequence<sizeof...(W) - 1>{}));
};

}  // namespace detail

/// The loss an attack on an ensemble ascends (the majority vote is piecewise constant in X).
enum class EnsembleSurrogate {
  /// Softmax cross-entropy of the averaged logits (1/N) Σ_j F_j.
  averaged_logits,
  /// −log of the averaged true-class probability (1/N) Σ_j softmax(F_j)_y.
  averaged_probabilities,
};

inline std::string ensemble_surrogate_name(EnsembleSurrogate s) {
  return s == EnsembleSurrogate::averaged_logits ? "averaged_logits" : "averaged_probabilities";
}

/// All N members at once: the network H of the model's layers 1…L−1 with hidden layer L−1 stacking
/// the members' (V_j, b_j) (N·h units, output the pre-activations Z, no activation), followed by the
/// members' output layers F_j = U_j σ(Z_j) + c_j 1ᵀ. Gives each member's logits, the loss of the
/// averaged predictive distribution and its input gradient: ∂L/∂Z_j = σ'(Z_j) ⊙ U_jᵀ ∂L/∂F_j,
/// back-propagated through H.
template <MlpModel Hidden>
class MemberwiseNetwork {
 public:
  using Scalar = typename Hidden::Scalar;
  using Params = typename Hidden::Params;
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Dynamic, 1>;

  /// `hidden` ends at the N stacked hidden layers; `u` is [U_1 ⋯ U_N] (m × N·h); `c` holds the
  /// biases c_j as columns (m × N), or has no rows for members without biases.
  MemberwiseNetwork(Hidden hidden, Params params, Matrix u, Matrix c, Index members)
      : hidden_(std::move(hidden)), params_(std::move(params)), u_(std::move(u)), c_(std::move(c)), members_(members) {
    hidden_.check_params(params_);
    const Index width = hidden_.output_size();
    if (members_ < 1 || width % members_ != 0)
      throw std::invalid_argument("symflow::MemberwiseNetwork: " + std::to_string(width) + " stacked hidden units for " +
                                  std::to_string(members_) + " members");
    detail::require_shape("[U_1 ⋯ U_N]", u_.rows(), width, u_.rows(), u_.cols());
    if (c_.rows() > 0) detail::require_shape("biases [c_1 ⋯ c_N]", u_.rows(), members_, c_.rows(), c_.cols());
  }

  const Hidden& hidden() const { return hidden_; }
  const Params& params() const { return params_; }
  /// N.
  Index members() const { return members_; }
  /// m.
  Index classes() const { return u_.rows(); }

  /// F_1(X); ⋯; F_N(X), N·m × k.
  template <class Derived>
  Matrix outputs(const Eigen::MatrixBase<Derived>& x) const {
    return logits(detail::activate(hidden_.activation(), hidden_.forward(params_, x)));
  }

  /// −(1/k) Σ_i log((1/N) Σ_j softmax(F_j(x_i))_{y_i}).
  template <class Derived>
  Scalar loss(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    Matrix g;
    return evaluate(outputs(x), labels, g, false);
  }

  /// ∂L/∂X of that loss.
  template <class Derived>
  Matrix loss_input_gradient(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    typename Hidden::template ForwardPass<Dynamic> pass;
    hidden_.forward(params_, x, pass);
    const Matrix& z = pass.output();
    const Matrix a = detail::activate(hidden_.activation(), z);
    Matrix g;
    evaluate(logits(a), labels, g, true);
    const Index m = classes(), h = hidden_width();
    Matrix back(z.rows(), z.cols());
    for (Index j = 0; j < members_; ++j)
      back.middleRows(j * h, h).noalias() = u_.middleCols(j * h, h).transpose() * g.middleRows(j * m, m);
    const Matrix dz = detail::pullback(hidden_.activation(), z, back);
    Params grad(hidden_.size());
    Matrix gx(x.rows(), x.cols());
    hidden_.backward(params_, pass, dz, grad, &gx);
    return gx;
  }

 private:
  Index hidden_width() const { return hidden_.output_size() / members_; }

  // F_j = U_j A_j + c_j for the stacked hidden activations A.
  Matrix logits(const Matrix& a) const {
    const Index m = classes(), h = hidden_width();
    Matrix f(members_ * m, a.cols());
    for (Index j = 0; j < members_; ++j) {
      f.middleRows(j * m, m).noalias() = u_.middleCols(j * h, h) * a.middleRows(j * h, h);
      if (c_.rows() > 0) f.middleRows(j * m, m).colwise() += c_.col(j);
    }
    return f;
  }

  // The loss and, when asked, ∂L/∂F into g.
  Scalar evaluate(const Matrix& f, const std::vector<int>& labels, Matrix& g, bool gradient) const {
    detail::require_length("labels", f.cols(), static_cast<Index>(labels.size()));
    using std::exp;
    using std::log;
    const Index m = classes(), k = f.cols();
    if (gradient) g.setZero(f.rows(), k);
    Vector lp(members_);
    Scalar total(0);
    for (Index i = 0; i < k; ++i) {
      const int y = labels[static_cast<std::size_t>(i)];
      if (y < 0 || y >= m)
        throw std::invalid_argument("symflow::MemberwiseNetwork: label " + std::to_string(y) + " is not a class 0…" +
                                    std::to_string(m - 1));
      for (Index j = 0; j < members_; ++j) {
        const auto fj = f.col(i).segment(j * m, m);
        const Scalar top = fj.maxCoeff();
        lp[j] = fj[y] - top - log((fj.array() - top).exp().sum());  // log softmax(F_j)_y
      }
      const Scalar top = lp.maxCoeff();
      const Scalar lse = top + log((lp.array() - top).exp().sum());  // log Σ_j p_j
      total -= lse - log(Scalar(static_cast<double>(members_)));
      if (gradient) {
        for (Index j = 0; j < members_; ++j) {
          const auto fj = f.col(i).segment(j * m, m);
          const Scalar w = exp(lp[j] - lse) / Scalar(static_cast<double>(k));  // p_j / Σ_l p_l, over k
          const Scalar ftop = fj.maxCoeff();
          const Vector soft = (fj.array() - ftop).exp().matrix();
          g.col(i).segment(j * m, m) = w * soft / soft.sum();
          g(j * m + y, i) -= w;
        }
      }
    }
    return total / Scalar(static_cast<double>(k));
  }

  Hidden hidden_;
  Params params_;
  Matrix u_, c_;
  Index members_;
};

/// Members sharing a model's layers 1, …, L−2 (the model's parameters θ) and each with its own
/// last two layers.
template <MlpModel Model>
class LastLayersEnsemble {
  static_assert(Model::depth >= 2, "symflow::LastLayersEnsemble: the model needs at least two layers");

 public:
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Block = LastLayers<Scalar>;
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  /// The model type of the averaged-logit network (same layers, all widths Dynamic).
  using StackedModel = typename detail::with_dynamic_widths<Model>::type;
  /// The model type of the member-wise network's layers 1…L−1.
  using HiddenModel = typename detail::without_last_layer<Model>::type;
  static constexpr int depth = Model::depth;

  /// An ensemble with no members yet around the trained model (model, θ).
  LastLayersEnsemble(Model model, Params theta) : model_(std::move(model)), theta_(std::move(theta)) {
    model_.check_params(theta_);
  }

  const Model& model() const { return model_; }
  /// θ of the trained model; its last two layers are the untransformed block.
  const Params& base_params() const { return theta_; }
  /// The trained model's own last two layers.
  Block base_block() const { return last_layers(model_, theta_); }

  /// Adds a member; throws std::invalid_argument when its shapes do not fit the model.
  void add_member(Block block) {
    with_last_layers(model_, theta_, block);  // validates every shape
    members_.push_back(std::move(block));
  }

  /// Number of members N.
  Index size() const { return static_cast<Index>(members_.size()); }
  const Block& member(Index j) const { return members_.at(static_cast<std::size_t>(j)); }
  /// The full parameter vector θ_j of member j (θ with its last two layers replaced).
  Params member_params(Index j) const { return with_last_layers(model_, theta_, member(j)); }

  /// The block input A for samples X (shared by every member).
  template <class Derived>
  Matrix block_inputs(const Eigen::MatrixBase<Derived>& x) const {
    return symflow::block_inputs(model_, theta_, x);
  }

  /// F_j(X) from the block inputs A.
  template <class Derived>
  Matrix member_outputs(Index j, const Eigen::MatrixBase<Derived>& a) const {
    return member(j).outputs(model_.activation(), a);
  }

  /// Every member's predicted classes on X: N × k.
  template <class Derived>
  PredictionMatrix member_predictions(const Eigen::MatrixBase<Derived>& x) const {
    require_members();
    const Matrix a = block_inputs(x);
    PredictionMatrix p(size(), x.cols());
    SYMFLOW_PARALLEL_FOR
    for (Index j = 0; j < size(); ++j) {
      const std::vector<int> c = predicted_classes(member_outputs(j, a));
      for (Index i = 0; i < x.cols(); ++i) p(j, i) = c[static_cast<std::size_t>(i)];
    }
    return p;
  }

  /// The majority vote of the members on X.
  template <class Derived>
  std::vector<int> predict(const Eigen::MatrixBase<Derived>& x) const {
    return majority_vote(member_predictions(x), static_cast<int>(model_.output_size()));
  }

  /// Predictions and true-class log-probabilities of every member on labelled samples (X, y).
  template <class Derived>
  EnsembleEvaluation evaluate(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    require_members();
    return evaluate_blocks(x, labels, [this](Index j) -> const Block& { return member(j); }, size());
  }

  /// The trained model alone, as a one-member evaluation.
  template <class Derived>
  EnsembleEvaluation evaluate_base(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels) const {
    const Block base = base_block();
    return evaluate_blocks(x, labels, [&base](Index) -> const Block& { return base; }, 1);
  }

  /// F̄(X) = (1/N) Σ_j F_j(X), summed in member order.
  template <class Derived>
  Matrix averaged_logits(const Eigen::MatrixBase<Derived>& x) const {
    require_members();
    const Matrix a = block_inputs(x);
    Matrix sum = Matrix::Zero(model_.output_size(), x.cols());
    for (Index j = 0; j < size(); ++j) sum += member_outputs(j, a);
    return sum / static_cast<Scalar>(size());
  }

  /// The averaged-logit network: same layers 1…L−2 as the model, hidden layer L−1 of width N·h
  /// stacking the members, output (1/N) Σ_j F_j. Needs an elementwise activation.
  Classifier<StackedModel> averaged_logit_classifier() const {
    auto [stacked, p] = stacked_hidden_layer(model_.width(depth));
    constexpr int L = depth;
    const Index n = size(), h = model_.width(L - 1);
    auto u = stacked.template weight<L>(p);
    for (Index j = 0; j < n; ++j) u.middleCols(j * h, h) = member(j).U / static_cast<Scalar>(n);
    if constexpr (Model::has_bias) {
      auto c = stacked.template bias<L>(p);
      c.setZero();
      for (Index j = 0; j < n; ++j) c += member(j).c;
      c /= static_cast<Scalar>(n);
    }
    return Classifier<StackedModel>(std::move(stacked), std::move(p));
  }

  /// The member-wise network: outputs F_1(X); ⋯; F_N(X). Needs an elementwise activation.
  MemberwiseNetwork<HiddenModel> memberwise_network() const {
    constexpr int L = depth;
    auto [stacked, p] = stacked_hidden_layer(model_.width(L));
    const Index n = size(), h = model_.width(L - 1), m = model_.width(L);
    std::array<Index, depth> widths{};
    for (int i = 0; i < depth; ++i) widths[static_cast<std::size_t>(i)] = stacked.width(i);
    const HiddenModel hidden(widths, model_.activation());
    // Layers 1…L−1 fill the same leading stretch of both parameter vectors.
    typename HiddenModel::Params hp = p.head(hidden.size());
    Matrix u(m, n * h), c(Model::has_bias ? m : 0, n);
    for (Index j = 0; j < n; ++j) {
      u.middleCols(j * h, h) = member(j).U;
      if constexpr (Model::has_bias) c.col(j) = member(j).c;
    }
    return MemberwiseNetwork<HiddenModel>(hidden, std::move(hp), std::move(u), std::move(c), n);
  }

  /// ∂/∂X of the surrogate loss against the labels: the gradient the input attacks on the ensemble
  /// follow (by default the softmax cross-entropy of the averaged logits F̄(X)).
  template <class Derived>
  Matrix loss_input_gradient(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels,
                             EnsembleSurrogate surrogate = EnsembleSurrogate::averaged_logits) const {
    if (surrogate == EnsembleSurrogate::averaged_logits)
      return averaged_logit_classifier().loss_input_gradient(x, labels);
    return memberwise_network().loss_input_gradient(x, labels);
  }

 private:
  void require_members() const {
    if (members_.empty()) throw std::logic_error("symflow::LastLayersEnsemble: the ensemble has no members");
  }

  /// A network with the model's layers 1…L−2, the members' hidden layers stacked (N·h units) and an
  /// output layer of width `outputs` left at zero, with its parameters.
  std::pair<StackedModel, typename StackedModel::Params> stacked_hidden_layer(Index outputs) const {
    static_assert(ElementwiseActivation<typename Model::Activation>,
                  "symflow::LastLayersEnsemble: stacking members into one network needs an elementwise activation "
                  "(a column activation such as a radial one would mix the stacked members)");
    require_members();
    constexpr int L = depth;
    const Index n = size(), h = model_.width(L - 1);
    std::array<Index, depth + 1> widths{};
    for (int i = 0; i <= depth; ++i) widths[static_cast<std::size_t>(i)] = model_.width(i);
    widths[static_cast<std::size_t>(L - 1)] = n * h;
    widths[static_cast<std::size_t>(L)] = outputs;
    StackedModel stacked(widths, model_.activation());
    typename StackedModel::Params p = stacked.zero_params();
    // Layers 1…L−2 have the same widths, so they fill the same leading stretch of both vectors.
    const Index shared = model_.weight_offset(L - 1);
    p.head(shared) = theta_.head(shared);
    auto v = stacked.template weight<L - 1>(p);
    for (Index j = 0; j < n; ++j) v.middleRows(j * h, h) = member(j).V;
    if constexpr (Model::has_bias) {
      auto b = stacked.template bias<L - 1>(p);
      for (Index j = 0; j < n; ++j) b.segment(j * h, h) = member(j).b;
    }
    return {std::move(stacked), std::move(p)};
  }

  template <class Derived, class BlockOf>
  EnsembleEvaluation evaluate_blocks(const Eigen::MatrixBase<Derived>& x, const std::vector<int>& labels,
                                     const BlockOf& block_of, Index n) const {
    detail::require_length("labels", x.cols(), static_cast<Index>(labels.size()));
    const Index classes = model_.output_size();
    for (int y : labels)
      if (y < 0 || y >= classes)
        throw std::invalid_argument("symflow::LastLayersEnsemble: label " + std::to_string(y) + " is not a class 0…" +
                                    std::to_string(classes - 1));
    const Matrix a = block_inputs(x);
    EnsembleEvaluation e;
    e.labels = labels;
    e.classes = static_cast<int>(classes);
    e.predictions.resize(n, x.cols());
    e.log_probabilities.resize(n, x.cols());
    SYMFLOW_PARALLEL_FOR
    for (Index j = 0; j < n; ++j) {
      const Matrix f = block_of(j).outputs(model_.activation(), a);
      const std::vector<int> c = predicted_classes(f);
      for (Index i = 0; i < x.cols(); ++i) {
        e.predictions(j, i) = c[static_cast<std::size_t>(i)];
        e.log_probabilities(j, i) = log_softmax_at(f.col(i), labels[static_cast<std::size_t>(i)]);
      }
    }
    return e;
  }

  Model model_;
  Params theta_;
  std::vector<Block> members_;
};

}  // namespace symflow
