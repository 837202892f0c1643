// SPDX-License-Identifier: MIT
#pragma once
/// \file The angular-momentum identity of a radial hidden layer (eq. 30, corrected), as a residual
/// that vanishes along gradient flow.
///
/// A radial activation σ(z) = f(‖z‖)z commutes with O(h), so g ∈ O(h) acts by V ↦ gV, b ↦ gb,
/// U ↦ Ugᵀ (V = W_i, U = W_{i+1}). Its Lie algebra holds only antisymmetric M, for which
/// Q_M = ⟨θ, M̄θ⟩ ≡ 0 (M̄ is then antisymmetric on R^d): there is no conserved quantity, only the
/// orthogonality ⟨M̄θ, θ̇⟩ = 0 along gradient flow. Under the action both the columns of V (and b)
/// and the rows of U rotate the same way, and with the generator (MV, Mb, −UM) the orthogonality
/// for all antisymmetric M reads
///     J_in + J_out = 0,   J_in = [V b][V̇ ḃ]ᵀ − [V̇ ḃ][V b]ᵀ,   J_out = UᵀU̇ − U̇ᵀU,
/// where (J_in)_kl = Σ_s (V_ks V̇_ls − V_ls V̇_ks) is the total angular momentum r²φ̇ of the columns
/// of V in the (k, l) plane and (J_out)_kl that of the rows of U. The two are opposite, not equal
/// as eq. (30) states (see docs/errata.md). The identity holds for every loss and batch X, at every
/// point, with θ̇ = −∇L; along a computed trajectory its residual measures how far the computed
/// velocity is from the gradient-flow velocity.

#include <string>
#include <type_traits>
#include <utility>

#include "symflow/group/equivariance.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

/// The angular momenta of hidden layer i = Layer under O(h): J_in (columns of W_i and b_i), J_out
/// (rows of W_{i+1}) and the residual J_in + J_out, zero along gradient flow.
template <MlpModel Model, int Layer = 1>
class AngularMomentum {
  static_assert(Layer >= 1 && Layer < Model::depth, "symflow::AngularMomentum: Layer must be a hidden layer");
  static_assert(OrthogonalEquivariantActivation<typename Model::Activation>,
                "symflow::AngularMomentum: the O(h) symmetry needs a radial activation (symflow::Radial), the "
                "identity, or a user activation declared OrthogonalEquivariant (symflow/group/equivariance.hpp)");

 public:
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  static constexpr int hidden = Model::static_widths[Layer];
  using Value = Eigen::Matrix<Scalar, hidden, hidden>;

  explicit AngularMomentum(Model model) : model_(std::move(model)) {}
  const Model& model() const { return model_; }

  /// J_in = [W_i b_i][Ẇ_i ḃ_i]ᵀ − (·)ᵀ, antisymmetric.
  template <class DP, class DV>
  Value incoming(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DV>& velocity) const {
    const auto w = model_.template weight<Layer>(p);
    const auto w_dot = model_.template weight<Layer>(velocity);
    Value m(w.rows(), w.rows());
    m.noalias() = w * w_dot.transpose();
    if constexpr (Model::has_bias) m.noalias() += model_.template bias<Layer>(p) * model_.template bias<Layer>(velocity).transpose();
    return m - m.transpose();
  }

  /// J_out = W_{i+1}ᵀẆ_{i+1} − (·)ᵀ, antisymmetric.
  template <class DP, class DV>
  Value outgoing(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DV>& velocity) const {
    const auto u = model_.template weight<Layer + 1>(p);
    const auto u_dot = model_.template weight<Layer + 1>(velocity);
    Value m(u.cols(), u.cols());
    m.noalias() = u.transpose() * u_dot;
    return m - m.transpose();
  }

  /// J_in + J_out: zero when the velocity is −∇L(θ) (or any multiple of it).
  template <class DP, class DV>
  Value residual(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DV>& velocity) const {
    return incoming(p, velocity) + outgoing(p, velocity);
  }

  /// ‖J_in + J_out‖ / (‖J_in‖ + ‖J_out‖), in [0, 1]; 0 for a gradient-flow velocity.
  template <class DP, class DV>
  Scalar relative_residual(const Eigen::MatrixBase<DP>& p, const Eigen::MatrixBase<DV>& velocity) const {
    const Value in = incoming(p, velocity);
    const Value out = outgoing(p, velocity);
    const Scalar scale = in.norm() + out.norm();
    return scale > Scalar(0) ? Scalar((in + out).norm() / scale) : Scalar(0);
  }

  static std::string name() { return "angular_momentum_" + std::to_string(Layer); }

 private:
  Model model_;
};

}  // namespace symflow
