// SPDX-License-Identifier: MIT
#pragma once
/// \file Families of per-sample gradient fields X_1, …, X_N on R^d, and their iterated Lie brackets
/// evaluated exactly at a point.
///
/// A family is given by its linear combinations: `fields.combination(θ, c)` = Σ_j c_j X_j(θ), written
/// once as a template over the scalar of θ. Through symflow::Dual the same code gives directional
/// derivatives exactly, and through duals of duals the higher ones that brackets of brackets need:
///
///   [X, Y](θ) = DY(θ)X(θ) − DX(θ)Y(θ)
///
/// is the ε-part of Y(θ + εX(θ)) minus the ε-part of X(θ + εY(θ)). A right-nested bracket
/// [Y_1, [Y_2, …, [Y_{k−1}, Y_k]]] is evaluated by the same rule one level down, in Dual<T>: the inner
/// bracket is itself a field, evaluated at θ + εY_1(θ) over the next scalar of the tower, so each
/// level adds one independent nilpotent ε and depth k runs the fields in Dual^{k−1}<double>. No step
/// size and no finite difference anywhere; the cost of depth k is that of about 2(k − 1) field
/// evaluations in Dual^{k−1} (2^{k−1} doubles per scalar).
///
/// Three families are provided:
///  - OutputGradientFields (model, inputs X): X_{i,j} = ∇_θ F_i(θ; x_j), the fields of every loss
///    ℓ(F(θ; x), y) and every target y at these inputs (Marcotte, Gribonval and Peyré 2023, §2);
///  - LossGradientFields (model, loss, X, Y): X_j = ∇_θ ℓ(F(θ; x_j), y_j), one per labelled sample;
///  - PerSampleLossFields (d, k, ℓ(θ, j)): any user model written as a per-sample loss over a template
///    scalar; gradients by forward mode (d evaluations per field, for small models).
/// The first two take any model that symflow::Objective takes (`cast<S>()`, `forward(θ, X, pass)`,
/// `backward(θ, pass, G, grad)`, `ForwardPass<K>`): the multilayer perceptrons today, layered models
/// that keep the same members tomorrow.

#include <concepts>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"

namespace symflow {

/// Column vector over any scalar: the parameter vector as the fields see it.
template <class T>
using VectorOf = Eigen::Matrix<T, Dynamic, 1>;

/// The deepest bracket that lie_bracket evaluates unless told otherwise (its template argument):
/// fields then run in Dual^3<double>. Each level more instantiates the fields over one more scalar
/// (compile time grows with it); every count in docs/conservation-laws.md stabilises by depth 4.
inline constexpr int default_max_bracket_depth = 4;

/// The scalar of nesting level L: Dual^L<double>.
template <int L>
struct DualTower { using type = Dual<typename DualTower<L - 1>::type>; };
template <>
struct DualTower<0> { using type = double; };
template <int L>
using DualTowerT = typename DualTower<L>::type;

/// A family of N vector fields on R^d given by its combinations Σ_j c_j X_j(θ), at double and at
/// dual θ (the deeper levels of the tower are checked where they are instantiated).
template <class F>
concept GradientFieldFamily = requires(const F& f, const VectorOf<double>& theta, const VectorOf<Dual<double>>& dual,
                                       const Eigen::VectorXd& c) {
  { f.size() } -> std::convertible_to<Index>;
  { f.count() } -> std::convertible_to<Index>;
  { f.combination(theta, c) } -> std::convertible_to<VectorOf<double>>;
  { f.combination(dual, c) } -> std::convertible_to<VectorOf<Dual<double>>>;
};

namespace detail {

template <class F>
void check_combination(const F& f, Index theta_size, Index c_size) {
  require_length("parameter vector θ", f.size(), theta_size);
  require_length("coefficient vector c (one entry per field)", f.count(), c_size);
}

/// θ + ε·v over the next scalar of the tower.
template <class T>
VectorOf<Dual<T>> perturbed(const VectorOf<T>& theta, const VectorOf<T>& v) {
  VectorOf<Dual<T>> out(theta.size());
  for (Index i = 0; i < theta.size(); ++i) out[i] = Dual<T>(theta[i], v[i]);
  return out;
}

template <class T>
VectorOf<T> value_part(const VectorOf<Dual<T>>& v) {
  VectorOf<T> out(v.size());
  for (Index i = 0; i < v.size(); ++i) out[i] = v[i].value;
  return out;
}

template <class T>
VectorOf<T> epsilon_part(const VectorOf<Dual<T>>& v) {
  VectorOf<T> out(v.size());
  for (Index i = 0; i < v.size(); ++i) out[i] = v[i].eps;
  return out;
}

/// [Y_first, [Y_{first+1}, …, Y_last]](θ) with θ over Dual^Level<double> (sign = −1); with sign = +1
/// the same recursion with every difference DB·Y − DY·B replaced by the sum DB·Y + DY·B: no
/// cancellation between the two terms, so its size is the scale against which the bracket's
/// rounding error is measured.
template <int MaxDepth, int Level, class F>
VectorOf<DualTowerT<Level>> nested_bracket(const F& fields, const VectorOf<DualTowerT<Level>>& theta,
                                           const std::vector<Eigen::VectorXd>& c, std::size_t first, int sign) {
  if (first + 1 == c.size()) return fields.combination(theta, c[first]);
  if constexpr (Level + 1 < MaxDepth) {
    using T = DualTowerT<Level>;
    const VectorOf<T> y = fields.combination(theta, c[first]);
    // The inner bracket B at θ + εY(θ): value B(θ), ε-part DB(θ)Y(θ).
    const VectorOf<Dual<T>> inner = nested_bracket<MaxDepth, Level + 1>(fields, perturbed(theta, y), c, first + 1, sign);
    const VectorOf<T> b = value_part(inner);
    // Y at θ + εB(θ): ε-part DY(θ)B(θ).
    const VectorOf<Dual<T>> outer = fields.combination(perturbed(theta, b), c[first]);
    if (sign < 0) return epsilon_part(inner) - epsilon_part(outer);
    return epsilon_part(inner) + epsilon_part(outer);
  } else {
    throw std::logic_error("symflow: unreachable bracket depth");
  }
}

template <int MaxDepth, class F>
void check_bracket(const F& fields, const Eigen::VectorXd& theta, const std::vector<Eigen::VectorXd>& c) {
  static_assert(MaxDepth >= 1 && MaxDepth <= 8, "symflow::lie_bracket: MaxDepth must be 1 to 8");
  if (c.empty() || c.size() > static_cast<std::size_t>(MaxDepth))
    throw std::invalid_argument("symflow::lie_bracket: " + std::to_string(c.size()) +
                                " coefficient vectors given, expected 1 to " + std::to_string(MaxDepth));
  for (const auto& ci : c) check_combination(fields, theta.size(), ci.size());
}

}  // namespace detail

/// The right-nested Lie bracket [Y_1, [Y_2, …, [Y_{k−1}, Y_k]]](θ) of the fields Y_i = Σ_j c[i]_j X_j,
/// exactly (nested dual numbers). One coefficient vector gives Y_1(θ) itself. At most MaxDepth vectors.
template <int MaxDepth = default_max_bracket_depth, GradientFieldFamily F>
Eigen::VectorXd lie_bracket(const F& fields, const Eigen::VectorXd& theta, const std::vector<Eigen::VectorXd>& c) {
  detail::check_bracket<MaxDepth>(fields, theta, c);
  return detail::nested_bracket<MaxDepth, 0>(fields, VectorOf<double>(theta), c, 0, -1);
}

/// The scale of lie_bracket(fields, θ, c): the norm of the same nested expression with every
/// difference DB·Y − DY·B taken as a sum. A bracket that vanishes identically comes out of
/// lie_bracket as rounding noise of about 1e-16 times this scale; one that does not, far above it.
template <int MaxDepth = default_max_bracket_depth, GradientFieldFamily F>
double lie_bracket_scale(const F& fields, const Eigen::VectorXd& theta, const std::vector<Eigen::VectorXd>& c) {
  detail::check_bracket<MaxDepth>(fields, theta, c);
  return detail::nested_bracket<MaxDepth, 0>(fields, VectorOf<double>(theta), c, 0, +1).norm();
}

namespace detail {

/// Σ_j ∇_θ ⟨G_j, F(θ; x_j)⟩ in scalar T, the pull-back both model families compute: one forward
/// pass over X, G = output_weights(pass) (m × k), one backward pass.
template <class T, class Model, class Input, class OutputWeights>
VectorOf<T> pull_back_outputs(const Model& model_in_double, const Input& x_in_double, const VectorOf<T>& theta,
                              OutputWeights&& output_weights) {
  const auto model = model_in_double.template cast<T>();
  using M = std::remove_const_t<decltype(model)>;
  const typename M::Params p = theta;
  const Eigen::Matrix<T, Model::input_width, Dynamic> x = x_in_double.template cast<T>();
  typename M::template ForwardPass<Dynamic> pass;
  model.forward(p, x, pass);
  const typename M::template Features<M::depth, Dynamic> g = output_weights(pass);
  typename M::Params grad(p.size());
  model.backward(p, pass, g, grad);
  return grad;
}

}  // namespace detail

/// X_{i,j}(θ) = ∇_θ F_i(θ; x_j) for every output i and every input column x_j: the gradient fields
/// of all losses of the model's output and all targets at these inputs. Field (i, j) has index
/// i + m·j, so c reshaped column-major to m × k is the output gradient ∂ℓ/∂F that back-propagation
/// pulls back: a combination costs one forward and one backward pass over the batch.
template <class Model>
class OutputGradientFields {
  static_assert(std::is_same_v<typename Model::Scalar, double>,
                "symflow::OutputGradientFields: counting runs in double; declare the model over double");

 public:
  using Input = Eigen::Matrix<double, Model::input_width, Dynamic>;

  /// Throws std::invalid_argument unless X has the model's input width as its number of rows.
  OutputGradientFields(Model model, Input x) : model_(std::move(model)), x_(std::move(x)) {
    model_.check_input(x_);
    if (x_.cols() == 0) throw std::invalid_argument("symflow::OutputGradientFields: the input batch X has no columns");
  }

  const Model& model() const { return model_; }
  const Input& inputs() const { return x_; }
  /// d.
  Index size() const { return model_.size(); }
  /// N = m·k.
  Index count() const { return model_.output_size() * x_.cols(); }

  template <class T>
  VectorOf<T> combination(const VectorOf<T>& theta, const Eigen::VectorXd& c) const {
    detail::check_combination(*this, theta.size(), c.size());
    return detail::pull_back_outputs(model_, x_, theta, [&](const auto&) {
      return Eigen::Map<const Eigen::MatrixXd>(c.data(), model_.output_size(), x_.cols()).template cast<T>();
    });
  }

 private:
  Model model_;
  Input x_;
};

/// X_j(θ) = ∇_θ ℓ(F(θ; x_j), y_j), one field per labelled sample (column j of X and Y). The loss must
/// be a sum over samples (column j of its gradient depends on sample j alone): HalfSquaredError,
/// MeanSquaredError and SoftmaxCrossEntropy are.
template <class Model, class LossT>
class LossGradientFields {
  static_assert(std::is_same_v<typename Model::Scalar, double>,
                "symflow::LossGradientFields: counting runs in double; declare the model over double");

 public:
  using Input = Eigen::Matrix<double, Model::input_width, Dynamic>;
  using Target = Eigen::Matrix<double, Model::output_width, Dynamic>;

  /// Throws std::invalid_argument unless X is n_0 × k and Y is n_L × k.
  LossGradientFields(Model model, LossT loss, Input x, Target y)
      : model_(std::move(model)), loss_(std::move(loss)), x_(std::move(x)), y_(std::move(y)) {
    model_.check_input(x_);
    detail::require_shape("target Y", model_.output_size(), x_.cols(), y_.rows(), y_.cols());
    if (x_.cols() == 0) throw std::invalid_argument("symflow::LossGradientFields: the batch has no samples");
  }

  Index size() const { return model_.size(); }
  /// N = k.
  Index count() const { return x_.cols(); }

  template <class T>
  VectorOf<T> combination(const VectorOf<T>& theta, const Eigen::VectorXd& c) const {
    detail::check_combination(*this, theta.size(), c.size());
    return detail::pull_back_outputs(model_, x_, theta, [&](const auto& pass) {
      const Eigen::Matrix<T, Model::output_width, Dynamic> y = y_.template cast<T>();
      Eigen::Matrix<T, Model::output_width, Dynamic> g = loss_.gradient(pass.output(), y);
      for (Index j = 0; j < g.cols(); ++j) g.col(j) *= T(c[j]);
      return g;
    });
  }

 private:
  Model model_;
  LossT loss_;
  Input x_;
  Target y_;
};

/// X_j(θ) = ∇_θ ℓ_j(θ) for a user model written as a per-sample loss `loss(θ, j)` (θ a VectorOf<T>,
/// j = 0, …, k − 1, returning T) over a template scalar T. Gradients by forward mode, one dual
/// evaluation per coordinate: d·k loss evaluations per combination, meant for small models.
template <class LossFn>
class PerSampleLossFields {
 public:
  PerSampleLossFields(Index d, Index samples, LossFn loss) : d_(d), k_(samples), loss_(std::move(loss)) {
    if (d <= 0 || samples <= 0)
      throw std::invalid_argument("symflow::PerSampleLossFields: d = " + std::to_string(d) + " and " +
                                  std::to_string(samples) + " samples given, expected both positive");
  }

  Index size() const { return d_; }
  Index count() const { return k_; }

  template <class T>
  VectorOf<T> combination(const VectorOf<T>& theta, const Eigen::VectorXd& c) const {
    detail::check_combination(*this, theta.size(), c.size());
    VectorOf<T> grad = VectorOf<T>::Zero(d_);
    VectorOf<Dual<T>> p(d_);
    for (Index i = 0; i < d_; ++i) p[i] = Dual<T>(theta[i]);
    for (Index i = 0; i < d_; ++i) {
      p[i].eps = T(1);
      for (Index j = 0; j < k_; ++j)
        if (c[j] != 0.0) grad[i] += T(c[j]) * Dual<T>(loss_(p, j)).eps;
      p[i].eps = T(0);
    }
    return grad;
  }

 private:
  Index d_;
  Index k_;
  LossFn loss_;
};

}  // namespace symflow
