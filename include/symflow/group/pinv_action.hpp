// SPDX-License-Identifier: MIT
#pragma once
/// \file The nonlinear, data-dependent action of GL_h on a block U σ(Z), Z = V A (+ b 1ᵀ), for a fixed
/// batch A of k block inputs (Prop. 8 / Prop. 2, eqs. 15–16):
///
///   g · (U, V, b) = (U π(g, Z), g V, g b),   π(g, Z) = σ(Z) σ(gZ)⁺.
///
/// σ(gZ)⁺ comes from a singular value decomposition of σ(gZ) (rank-revealing; never the normal
/// equations), whose rank and condition number are reported: a rank-deficient or ill-conditioned
/// σ(gZ) is an error (or a status, from the try_ functions), never a silently wrong matrix.
///
/// What holds depends on the batch size k against the width h (σ(gZ) of full rank min(h, k)):
///
/// | k vs h | output on the batch | composition g₂·(g₁·θ) = (g₂g₁)·θ | identity I·θ = θ |
/// | ------ | ------------------- | --------------------------------- | ---------------- |
/// | k = h  | unchanged           | holds                             | holds            |
/// | k < h  | unchanged           | holds                             | fails: I·θ = (U P, V, b) with P = σ(Z)σ(Z)⁺ the orthogonal projector onto the range of σ(Z); I·θ is idempotent and the action is a group action on its image {U : U P = U} |
/// | k > h  | changes in general  | fails in general                  | holds (σ(Z)σ(Z)⁺ = I_h) |
///
/// (σ(gZ)⁺σ(gZ) = I_k needs k ≤ h; σ(Z)σ(Z)⁺ = I_h needs k ≥ h.) On inputs outside the batch the
/// output changes, to first order in ‖g − I‖: that is what ensembles built from this action use.
///
/// Works for any activation that acts on each sample (column) separately, elementwise or not,
/// including tanh and sigmoid. The block can be any hidden layer i of a deeper MLP, with A the
/// features σ(⋯) of the layers before it: PseudoinverseAction computes A from the network input,
/// or takes A explicitly (on_block_input).

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <Eigen/SVD>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"
#include "symflow/core/matrix_functions.hpp"
#include "symflow/group/detail/hidden_layer.hpp"
#include "symflow/group/lie_algebra.hpp"
#include "symflow/model/activation.hpp"

namespace symflow {

/// What the decomposition of σ(gZ) showed.
enum class PinvStatus {
  ok,               ///< σ(gZ) has full rank min(h, k) and a condition number within the limit
  rank_deficient,   ///< numerical rank below min(h, k): π(g, Z) would not be the action of eq. (15)
  ill_conditioned,  ///< full rank, but σ_max/σ_min above the limit: π(g, Z) would carry large errors
  not_finite,       ///< g, Z or σ(gZ) holds NaN or infinity
};

inline const char* to_string(PinvStatus s) {
  switch (s) {
    case PinvStatus::ok: return "ok";
    case PinvStatus::rank_deficient: return "rank deficient";
    case PinvStatus::ill_conditioned: return "ill-conditioned";
    case PinvStatus::not_finite: return "not finite";
  }
  return "unknown";
}

/// Thresholds for judging σ(gZ). Negative values select the defaults.
struct PinvOptions {
  /// Singular values below rank_tolerance·σ_max count as zero. Default max(h, k)·ε.
  double rank_tolerance = -1;
  /// Largest accepted σ_max/σ_min(h,k). Default 1/√ε (about 6.7e7 in double): the relative error of
  /// π(g, Z) is about condition·ε.
  double max_condition = -1;
};

/// The matrix π(g, Z) = σ(Z) σ(gZ)⁺ with what the decomposition of σ(gZ) showed.
template <class Scalar>
struct PseudoinverseRepresentation {
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  /// π(g, Z), h × h (computed with the numerical rank when the status is not ok).
  Matrix matrix;
  PinvStatus status = PinvStatus::ok;
  /// The numerical rank of σ(gZ).
  Index rank = 0;
  /// min(h, k): the rank eq. (15) needs.
  Index expected_rank = 0;
  /// σ_max / σ_{min(h,k)} of σ(gZ); infinite when that singular value is zero.
  double condition = 0;
  /// The limit the condition number was compared with.
  double max_condition = 0;

  bool ok() const { return status == PinvStatus::ok; }
  /// A sentence naming the status, the rank and the condition number seen.
  std::string message() const {
    std::ostringstream s;
    s << "symflow: σ(gZ) is " << to_string(status) << " (h = " << matrix.rows() << ", numerical rank " << rank
      << " of expected min(h, k) = " << expected_rank << ", condition number " << condition << ", limit "
      << max_condition << "); the pseudoinverse action π(g, Z) = σ(Z)σ(gZ)⁺ needs σ(gZ) of full rank";
    return s.str();
  }
};

/// Thrown when σ(gZ) is rank-deficient, ill-conditioned or not finite.
class PseudoinverseError : public std::runtime_error {
 public:
  PseudoinverseError(const std::string& what, PinvStatus status, Index rank, Index expected_rank, double condition)
      : std::runtime_error(what), status_(status), rank_(rank), expected_rank_(expected_rank), condition_(condition) {}
  PinvStatus status() const { return status_; }
  Index rank() const { return rank_; }
  Index expected_rank() const { return expected_rank_; }
  double condition() const { return condition_; }

 private:
  PinvStatus status_;
  Index rank_, expected_rank_;
  double condition_;
};

namespace detail {

template <class Scalar>
using DynamicMatrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;

/// d/dt σ(Z + tΔ) at t = 0 (column by column for column activations, through dual numbers).
template <class Act, class DZ, class DD>
DynamicMatrix<typename DZ::Scalar> activation_derivative(const Act& act, const Eigen::MatrixBase<DZ>& z,
                                                         const Eigen::MatrixBase<DD>& delta) {
  using S = typename DZ::Scalar;
  if constexpr (ElementwiseActivation<Act>) {
    return z.unaryExpr([&act](const S& v) { return static_cast<S>(act.derivative(v)); }).cwiseProduct(delta);
  } else {
    DynamicMatrix<Dual<S>> zd(z.rows(), z.cols());
    for (Index j = 0; j < z.cols(); ++j)
      for (Index i = 0; i < z.rows(); ++i) zd(i, j) = Dual<S>(z(i, j), delta(i, j));
    const DynamicMatrix<Dual<S>> sd = activate(act, zd);
    DynamicMatrix<S> out(z.rows(), z.cols());
    for (Index j = 0; j < z.cols(); ++j)
      for (Index i = 0; i < z.rows(); ++i) out(i, j) = sd(i, j).eps;
    return out;
  }
}

/// Thin SVD of C with the numerical rank and the condition number, judged against the options.
template <class Scalar>
struct JudgedSvd {
  // Jacobi rather than divide-and-conquer: Eigen 3.4's BDCSVD can misplace small singular values,
  // and the rank decision rests on them.
  Eigen::JacobiSVD<DynamicMatrix<Scalar>> svd;
  Index rank = 0, expected = 0;
  double condition = 0, max_condition = 0;
  PinvStatus status = PinvStatus::ok;

  JudgedSvd(const DynamicMatrix<Scalar>& c, const PinvOptions& options) {
    const double eps = static_cast<double>(std::numeric_limits<Scalar>::epsilon());
    expected = std::min(c.rows(), c.cols());
    max_condition = options.max_condition >= 0 ? options.max_condition : 1.0 / std::sqrt(eps);
    if (!c.allFinite()) {
      status = PinvStatus::not_finite;
      condition = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    svd.compute(c, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const auto& sv = svd.singularValues();
    const double top = expected > 0 ? static_cast<double>(sv[0]) : 0.0;
    const double tol = (options.rank_tolerance >= 0 ? options.rank_tolerance
                                                    : static_cast<double>(std::max(c.rows(), c.cols())) * eps) * top;
    rank = 0;
    while (rank < expected && static_cast<double>(sv[rank]) > tol) ++rank;
    const double bottom = expected > 0 ? static_cast<double>(sv[expected - 1]) : 0.0;
    condition = bottom > 0 ? top / bottom : std::numeric_limits<double>::infinity();
    if (rank < expected) status = PinvStatus::rank_deficient;
    else if (!(condition <= max_condition)) status = PinvStatus::ill_conditioned;
  }

  /// B C⁺ = (B Q_r) Σ_r⁻¹ P_rᵀ over the numerical rank r, for C = P Σ Qᵀ.
  DynamicMatrix<Scalar> right_solve(const DynamicMatrix<Scalar>& b) const {
    const auto q = svd.matrixV().leftCols(rank);
    const auto p = svd.matrixU().leftCols(rank);
    const auto inv = svd.singularValues().head(rank).cwiseInverse().asDiagonal();
    return ((b * q) * inv) * p.transpose();
  }
};

}  // namespace detail

/// π(g, Z) = σ(Z) σ(gZ)⁺ with the rank and condition of σ(gZ); never throws on numerical trouble
/// (only on shapes). Z is h × k (pre-activations of k samples), g is h × h.
template <class Act, class DG, class DZ>
PseudoinverseRepresentation<typename DZ::Scalar> try_pseudoinverse_representation(
    const Act& activation, const Eigen::MatrixBase<DG>& g, const Eigen::MatrixBase<DZ>& z,
    const PinvOptions& options = {}) {
  static_assert(Activation<Act>, "symflow: the pseudoinverse action needs an activation (value/derivative or apply/pullback)");
  using S = typename DZ::Scalar;
  using Matrix = detail::DynamicMatrix<S>;
  detail::require_shape("group element g", z.rows(), z.rows(), g.rows(), g.cols());
  PseudoinverseRepresentation<S> out;
  const Matrix c = detail::activate(activation, (g * z).eval());
  const detail::JudgedSvd<S> judged(c, options);
  out.status = judged.status;
  out.rank = judged.rank;
  out.expected_rank = judged.expected;
  out.condition = judged.condition;
  out.max_condition = judged.max_condition;
  if (out.status == PinvStatus::not_finite || !g.allFinite() || !z.allFinite()) {
    out.status = PinvStatus::not_finite;
    out.matrix = Matrix::Constant(z.rows(), z.rows(), std::numeric_limits<S>::quiet_NaN());
    return out;
  }
  out.matrix = judged.right_solve(detail::activate(activation, z.eval()));
  return out;
}

/// π(g, Z) = σ(Z) σ(gZ)⁺ (eq. 15), h × h. Throws PseudoinverseError, naming the rank and condition
/// number seen, when σ(gZ) is rank-deficient, ill-conditioned or not finite.
template <class Act, class DG, class DZ>
detail::DynamicMatrix<typename DZ::Scalar> pseudoinverse_representation(const Act& activation,
                                                                         const Eigen::MatrixBase<DG>& g,
                                                                         const Eigen::MatrixBase<DZ>& z,
                                                                         const PinvOptions& options = {}) {
  auto r = try_pseudoinverse_representation(activation, g, z, options);
  if (!r.ok()) throw PseudoinverseError(r.message(), r.status, r.rank, r.expected_rank, r.condition);
  return std::move(r.matrix);
}

/// d/dt π(exp(tM), Z) at t = 0. With A = σ(Z), Ȧ = dσ_Z(MZ) and P = A A⁺ (derivative of the
/// pseudoinverse at constant rank): −P Ȧ A⁺ + A⁺ᵀ Ȧᵀ (I − P); for k ≥ h (P = I) this is −Ȧ A⁺.
template <class Act, class DM, class DZ>
detail::DynamicMatrix<typename DZ::Scalar> pseudoinverse_representation_derivative(const Act& activation,
                                                                                    const Eigen::MatrixBase<DM>& m,
                                                                                    const Eigen::MatrixBase<DZ>& z,
                                                                                    const PinvOptions& options = {}) {
  using S = typename DZ::Scalar;
  using Matrix = detail::DynamicMatrix<S>;
  detail::require_shape("Lie algebra element M", z.rows(), z.rows(), m.rows(), m.cols());
  const Matrix a = detail::activate(activation, z.eval());
  const detail::JudgedSvd<S> judged(a, options);
  if (judged.status != PinvStatus::ok) {
    PseudoinverseRepresentation<S> r;
    r.matrix = Matrix::Zero(z.rows(), z.rows());
    r.status = judged.status;
    r.rank = judged.rank;
    r.expected_rank = judged.expected;
    r.condition = judged.condition;
    r.max_condition = judged.max_condition;
    throw PseudoinverseError(r.message(), r.status, r.rank, r.expected_rank, r.condition);
  }
  const Matrix adot = detail::activation_derivative(activation, z, (m * z).eval());
  const auto p = judged.svd.matrixU().leftCols(judged.rank);  // P = p pᵀ
  const Matrix adot_apinv = judged.right_solve(adot);         // Ȧ A⁺
  Matrix out = -(p * (p.transpose() * adot_apinv));
  if (judged.rank < a.rows()) {
    const Matrix a_pinv = judged.right_solve(Matrix::Identity(a.cols(), a.cols()));  // A⁺ = I_k A⁺, k × h
    const Matrix rest = a_pinv.transpose() * adot.transpose();                       // A⁺ᵀ Ȧᵀ
    out += rest - (rest * p) * p.transpose();
  }
  return out;
}

/// The pseudoinverse action on hidden layer `Layer` of an MLP (default L − 1: the last two layers),
/// or on the dense junction `Layer` of a Sequential (default its last; the block input is then the
/// features after layer Layer − 1, whatever layers come before),
/// for a fixed batch. θ ↦ g·θ changes W_i ← g W_i, b_i ← g b_i and W_{i+1} ← W_{i+1} π(g, Z) with
/// Z = W_i A + b_i 1ᵀ, A the block input: the network input X for i = 1, otherwise the features
/// σ(⋯σ(W_1 X + b_1)⋯) of layer i − 1 at θ (which the action does not change), or a matrix A given
/// explicitly (on_block_input). See the file comment for what holds when k ≠ h.
template <class Model, int Layer = last_junction<Model>>
class PseudoinverseAction : public detail::HiddenLayer<Model, Layer> {
  using Base = detail::HiddenLayer<Model, Layer>;
  static constexpr bool has_bias = Base::Junction::has_bias;

 public:
  using typename Base::Params;
  using typename Base::Scalar;
  using Matrix = detail::DynamicMatrix<Scalar>;
  using AlgebraType = GeneralLinearAlgebra<Scalar, Base::width_at_compile_time>;
  /// g ∈ GL_h.
  using Group = typename AlgebraType::GroupElement;
  /// M ∈ gl(h).
  using Algebra = typename AlgebraType::Element;

  /// The batch is the network input X (n_0 × k); the block input is computed from X at θ.
  PseudoinverseAction(Model model, Matrix x, PinvOptions options = {})
      : Base(std::move(model)), algebra_(this->hidden()), batch_(std::move(x)), options_(options) {
    detail::require_shape("input batch X", input_width(), batch_.cols(), batch_.rows(), batch_.cols());
  }

  /// The batch is the block input A (n_{i−1} × k) itself: the features that hidden layer i's weights
  /// multiply, e.g. from a feature extractor or earlier layers computed elsewhere.
  static PseudoinverseAction on_block_input(Model model, Matrix a, PinvOptions options = {}) {
    PseudoinverseAction action(std::move(model), options);
    detail::require_shape("block input A", action.block_input_width(), a.cols(), a.rows(), a.cols());
    action.batch_ = std::move(a);
    action.batch_is_block_input_ = true;
    return action;
  }

  const AlgebraType& algebra() const { return algebra_; }
  /// k, the number of samples in the batch.
  Index samples() const { return batch_.cols(); }
  const PinvOptions& options() const { return options_; }

  Group identity() const { return algebra_.identity(); }
  /// a·b: act(compose(a, b), θ) = act(a, act(b, θ)) when k ≤ h (eq. 16).
  Group compose(const Group& a, const Group& b) const { return a * b; }
  Group inverse(const Group& g) const {
    this->check_square("group element g", g);
    return detail::matrix_inverse(g);
  }
  Group exp(const Algebra& m) const { return algebra_.exp(m); }

  /// A, the block's input for this batch at θ (n_{i−1} × k).
  Matrix block_input(const Params& p) const {
    this->model_.check_params(p);
    if (batch_is_block_input_ || Layer == 1) return batch_;
    if constexpr (MlpModel<Model>) {
      Matrix a = batch_;
      detail::for_each_layer<1, Layer - 1>([&]<int I>() {
        Matrix z = this->model_.template weight<I>(p) * a;
        if constexpr (has_bias) z.colwise() += this->model_.template bias<I>(p);
        a = detail::activate(this->model_.activation(), z);
      });
      return a;
    } else {
      // A Sequential: the features after layer Layer − 1, whatever its layers are.
      typename Model::template ForwardPass<Dynamic> pass;
      this->model_.forward(p, batch_, pass);
      return pass.template at<Layer - 1>();
    }
  }

  /// Z = W_i A + b_i 1ᵀ (h × k), the pre-activations of the batch in hidden layer i.
  Matrix preactivations(const Params& p) const {
    Matrix z = this->in_weight(p) * block_input(p);
    if constexpr (has_bias) z.colwise() += this->in_bias(p);
    return z;
  }

  /// π(g, Z) at θ, with the status of σ(gZ).
  PseudoinverseRepresentation<Scalar> representation(const Group& g, const Params& p) const {
    this->check_square("group element g", g);
    return try_pseudoinverse_representation(this->activation(), g, preactivations(p), options_);
  }

  /// g·θ together with the status of σ(gZ); the parameters are computed even when the status is not ok.
  struct Result {
    Params params;
    PseudoinverseRepresentation<Scalar> representation;
    bool ok() const { return representation.ok(); }
  };
  Result try_act(const Group& g, const Params& p) const {
    Result r{p, representation(g, p)};
    auto w = this->in_weight(r.params);
    w = g * w;
    if constexpr (has_bias) {
      auto b = this->in_bias(r.params);
      b = g * b;
    }
    auto u = this->out_weight(r.params);
    u = u * r.representation.matrix;
    return r;
  }

  /// g·θ (eq. 15). Throws PseudoinverseError (with the rank and condition seen) when σ(gZ) is not of
  /// full rank min(h, k) or is ill-conditioned.
  Params act(const Group& g, const Params& p) const {
    Result r = try_act(g, p);
    if (!r.ok())
      throw PseudoinverseError(r.representation.message(), r.representation.status, r.representation.rank,
                               r.representation.expected_rank, r.representation.condition);
    return std::move(r.params);
  }

  /// d/dt exp(tM)·θ at t = 0: M W_i, M b_i and W_{i+1} dπ with dπ = d/dt π(exp(tM), Z). For k < h the
  /// curve starts at I·θ ≠ θ (see the file comment), and this is its velocity there.
  Params generator(const Algebra& m, const Params& p) const {
    this->check_square("Lie algebra element M", m);
    Params out = this->model_.zero_params();
    this->in_weight(out).noalias() = m * this->in_weight(p);
    if constexpr (has_bias) this->in_bias(out).noalias() = m * this->in_bias(p);
    const Matrix dpi = pseudoinverse_representation_derivative(this->activation(), m, preactivations(p), options_);
    this->out_weight(out).noalias() = this->out_weight(p) * dpi;
    return out;
  }

 private:
  Index input_width() const {
    if constexpr (MlpModel<Model>) return this->model_.width(0);
    else return this->model_.input_shape().size();
  }
  /// n_{i−1}: the width of what hidden layer i's weights multiply.
  Index block_input_width() const {
    if constexpr (MlpModel<Model>) return this->model_.width(Layer - 1);
    else return this->model_.template layer<Layer>().in_shape().size();
  }

  PseudoinverseAction(Model model, PinvOptions options)
      : Base(std::move(model)), algebra_(this->hidden()), options_(options) {}

  AlgebraType algebra_;
  Matrix batch_;
  bool batch_is_block_input_ = false;
  PinvOptions options_;
};

}  // namespace symflow
