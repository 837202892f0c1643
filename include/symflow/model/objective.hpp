// SPDX-License-Identifier: MIT
#pragma once
/// \file The objective L(θ) = loss(F_θ(X), Y) for a model, a loss and a fixed batch (X, Y):
/// value, analytic gradient (back-propagation), exact Hessian-vector product and exact Hessian.
///
/// The Hessian-vector product pushes θ + εv through the same back-propagation code in
/// symflow::Dual, so H(θ)v is the ε-part of ∇L(θ + εv): exact up to rounding, no step size.

#include <string>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/loss.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

template <class Model, class LossT, int K = Dynamic>
class Objective {
  static_assert(Loss<LossT>, "symflow::Objective: the loss must provide value(F, Y) and gradient(F, Y)");

 public:
  using ModelType = Model;
  using LossType = LossT;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  static constexpr int samples_at_compile_time = K;
  using Input = Eigen::Matrix<Scalar, Model::input_width, K>;
  using Target = Eigen::Matrix<Scalar, Model::output_width, K>;
  /// Always heap-allocated: d × d outgrows the stack long before d stops being small.
  using Hessian = Eigen::Matrix<Scalar, Dynamic, Dynamic>;

  /// Validates that X is n_0 × k and Y is n_L × k (k = K when K is fixed) before X and Y are
  /// converted to the fixed-size Input and Target types; throws std::invalid_argument otherwise.
  template <class DX, class DY>
    requires std::is_base_of_v<Eigen::MatrixBase<std::remove_cvref_t<DX>>, std::remove_cvref_t<DX>> &&
             std::is_base_of_v<Eigen::MatrixBase<std::remove_cvref_t<DY>>, std::remove_cvref_t<DY>>
  Objective(Model model, LossT loss, DX&& x, DY&& y)
      : model_(std::move(model)),
        loss_(std::move(loss)),
        x_(checked_inputs(model_, std::forward<DX>(x))),
        y_(checked_targets(model_, x_.cols(), std::forward<DY>(y))) {}

  const Model& model() const { return model_; }
  const LossT& loss() const { return loss_; }
  const Input& inputs() const { return x_; }
  const Target& targets() const { return y_; }
  Index samples() const { return x_.cols(); }
  /// d.
  Index size() const { return model_.size(); }

  /// F_θ(X).
  Target output(const Params& p) const { return model_.forward(p, x_); }

  // θ (and v) of another matrix type, e.g. an Eigen::VectorXd for a fixed-size model: its shape is
  // checked before it is converted to Params (the conversion alone would keep a corner of it).
  template <class D> requires(!std::is_same_v<D, Params>)
  Target output(const Eigen::MatrixBase<D>& p) const { return output(as_params(p)); }
  template <class D> requires(!std::is_same_v<D, Params>)
  Scalar value(const Eigen::MatrixBase<D>& p) const { return value(as_params(p)); }
  template <class D> requires(!std::is_same_v<D, Params>)
  Scalar value_and_gradient(const Eigen::MatrixBase<D>& p, Params& grad) const {
    return value_and_gradient(as_params(p), grad);
  }
  template <class D> requires(!std::is_same_v<D, Params>)
  Params gradient(const Eigen::MatrixBase<D>& p) const { return gradient(as_params(p)); }
  template <class D> requires(!std::is_same_v<D, Params>)
  Input input_gradient(const Eigen::MatrixBase<D>& p) const { return input_gradient(as_params(p)); }
  template <class DP, class DV> requires(!std::is_same_v<DP, Params> || !std::is_same_v<DV, Params>)
  Params hessian_vector_product(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DV>& v) const {
    return hessian_vector_product(as_params(p), as_params(v, "direction v"));
  }
  template <class D> requires(!std::is_same_v<D, Params>)
  Hessian hessian(const Eigen::MatrixBase<D>& p) const { return hessian(as_params(p)); }

  /// L(θ).
  Scalar value(const Params& p) const {
    model_.check_params(p);
    return loss_.value(model_.forward(p, x_), y_);
  }

  /// L(θ), writing ∇L(θ) into `grad` (resized if dynamic).
  Scalar value_and_gradient(const Params& p, Params& grad) const {
    return evaluate(model_, p, x_, y_, grad);
  }

  /// ∇L(θ).
  Params gradient(const Params& p) const {
    Params g(model_.size());
    value_and_gradient(p, g);
    return g;
  }

  /// ∂L/∂X at θ (for input attacks and saliency).
  Input input_gradient(const Params& p) const {
    Params g(model_.size());
    Input gx(x_.rows(), x_.cols());
    evaluate(model_, p, x_, y_, g, &gx);
    return gx;
  }

  /// H(θ) v, exact (dual numbers through back-propagation).
  Params hessian_vector_product(const Params& p, const Params& v) const {
    model_.check_params(p);
    model_.check_params(v);
    using D = Dual<Scalar>;
    const auto dual_model = model_.template cast<D>();
    typename decltype(dual_model)::Params dp(p.size()), dg(p.size());
    for (Index i = 0; i < p.size(); ++i) dp[i] = D(p[i], v[i]);
    const Eigen::Matrix<D, Model::input_width, K> dx = x_.template cast<D>();
    const Eigen::Matrix<D, Model::output_width, K> dy = y_.template cast<D>();
    evaluate(dual_model, dp, dx, dy, dg);
    Params hv(p.size());
    for (Index i = 0; i < p.size(); ++i) hv[i] = dg[i].eps;
    return hv;
  }

  /// The full d × d Hessian, column by column from exact Hessian-vector products; symmetrised
  /// (the two triangles agree to rounding, ½(H + Hᵀ) removes that rounding asymmetry). The columns
  /// are independent: compiled with OpenMP they run in parallel, each into its own column, so the
  /// result is the same for every number of threads.
  Hessian hessian(const Params& p) const {
    model_.check_params(p);
    const Index d = model_.size();
    Hessian h(d, d);
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 16)
#endif
    for (Index j = 0; j < d; ++j) {
      Params e = Params::Zero(d);
      e[j] = Scalar(1);
      h.col(j) = hessian_vector_product(p, e);
    }
    return (Scalar(0.5) * (h + h.transpose())).eval();
  }

 private:
  template <class D>
  static Params as_params(const Eigen::MatrixBase<D>& p, const char* what = "parameter vector θ") {
    return detail::convert_checked<Params>(what, p);
  }

  template <class DX>
  static DX&& checked_inputs(const Model& model, DX&& x) {
    model.check_input(x);
    if (K != Dynamic && x.cols() != K)
      throw std::invalid_argument("symflow: input X has shape " + detail::shape_string(x.rows(), x.cols()) +
                                  ", expected " + std::to_string(K) + " columns (the objective's fixed sample count)");
    return std::forward<DX>(x);
  }
  template <class DY>
  static DY&& checked_targets(const Model& model, Index samples, DY&& y) {
    detail::require_shape("target Y", model.output_size(), samples, y.rows(), y.cols());
    return std::forward<DY>(y);
  }

  /// The loss, its gradient into `grad`, and ∂L/∂X into `input_grad` if one is given (a null
  /// pointer by type, std::nullptr_t, leaves that product out of the compiled back-propagation).
  template <class M, class P, class X, class Y, class InputGrad = std::nullptr_t>
  typename M::Scalar evaluate(const M& model, const P& p, const X& x, const Y& y, P& grad,
                              InputGrad input_grad = nullptr) const {
    model.check_params(p);
    if constexpr (M::num_params == Dynamic) grad.resize(p.size());
    typename M::template ForwardPass<K> pass;
    model.forward(p, x, pass);
    const typename M::template Features<M::depth, K> g = loss_.gradient(pass.output(), y);
    if constexpr (std::is_null_pointer_v<InputGrad>) model.backward(p, pass, g, grad);
    else model.backward(p, pass, g, grad, input_grad);
    return loss_.value(pass.output(), y);
  }

  Model model_;
  LossT loss_;
  Input x_;
  Target y_;
};

template <class M, class L, class DX, class DY>
Objective(M, L, const Eigen::MatrixBase<DX>&, const Eigen::MatrixBase<DY>&) -> Objective<M, L, DX::ColsAtCompileTime>;
template <class M, class L, class S, int R, int C, int O, int MR, int MC, class DY>
Objective(M, L, Eigen::Matrix<S, R, C, O, MR, MC>, DY) -> Objective<M, L, C>;

}  // namespace symflow
