// SPDX-License-Identifier: MIT
#pragma once
/// \file The ensembles of appendix H: members made from one trained network by transforming its last
/// two layers (V, U) (block F(A) = U σ(V A + b) + c, symflow/ensemble/last_layers.hpp), and the
/// four random baselines the paper compares them with.
///
/// Each member j draws a direction M_j ∈ gl(h) with i.i.d. N(0, 1/h) entries (spectral radius about
/// 1 for every h) and forms g_j = I + εM_j (GroupCurve::linear, the paper's text) or g_j = exp(εM_j)
/// (GroupCurve::exponential). With H_j = V A_j + b 1ᵀ the hidden pre-activations of a batch A_j of
/// h block inputs (so that σ(H_j) is square, the paper's condition k = h):
///
///  - group:   (U, V, b) ↦ (U π(g, H_j), gV, gb),  π(g, H) = σ(H) σ(gH)⁺ (eq. 78): the nonlinear
///             action; the member's outputs on the batch A_j equal the model's whenever σ(gH_j) is
///             invertible, and differ on other inputs.
///  - inverse: (U, V, b) ↦ (U g⁻¹, gV, gb): the linear action, a symmetry only for linear σ.
///  - random_diagonal: (U, V, b) ↦ (U g', gV, gb), g' = I + εD, D diagonal with i.i.d. uniform [0, 1)
///             entries.
///  - shuffled: (U, V, b) ↦ (U π', gV, gb), π' = P π(g, H_j) Q with P, Q uniformly random
///             permutation matrices: π's entries, rows and columns reordered (same singular values).
///  - interpolated_permutation: (U, V, b) ↦ (U P_ε⁻¹, P_ε V, P_ε b),
///             P_ε = (I + (ε/2)(I + S)) / (1 + ε), S a uniformly random permutation matrix. P_ε runs
///             from I (ε = 0) towards (I + S)/2 (ε → ∞); it is invertible for every finite ε ≥ 0
///             (its eigenvalues are (1 + ε/2 + (ε/2)λ)/(1 + ε) with |λ| = 1).
///
/// c is never changed. σ(gH)⁺ comes from symflow's pseudoinverse action
/// (symflow/group/pinv_action.hpp): when σ(gH) is rank-deficient or ill-conditioned the member is
/// kept, with π computed over the numerical rank (as a least-squares solve would), and counted in
/// EnsembleDiagnostics; a non-finite σ(gH) throws PseudoinverseError. Randomness: one seed per member is drawn from the caller's generator in
/// member order, and member j's draws (M_j first, then D, P and Q, or S) come from its own
/// generator seeded with it, so that with the same generator state every kind and every ε uses the
/// same directions M_j.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/LU>

#include "symflow/core/config.hpp"
#include "symflow/core/matrix_functions.hpp"
#include "symflow/ensemble/last_layers.hpp"
#include "symflow/ensemble/last_layers_ensemble.hpp"
#include "symflow/group/pinv_action.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

/// The transformations of appendix H (the group action and the four baselines).
enum class EnsembleKind { group, inverse, random_diagonal, shuffled, interpolated_permutation };

/// Short names for files and plots: group, g_inverse, random_diagonal, shuffled, perm_interp.
inline std::string ensemble_kind_name(EnsembleKind kind) {
  switch (kind) {
    case EnsembleKind::group: return "group";
    case EnsembleKind::inverse: return "g_inverse";
    case EnsembleKind::random_diagonal: return "random_diagonal";
    case EnsembleKind::shuffled: return "shuffled";
    case EnsembleKind::interpolated_permutation: return "perm_interp";
  }
  return "unknown";
}

/// How ε and a direction M give the group element: g = I + εM or g = exp(εM).
enum class GroupCurve { linear, exponential };

inline std::string group_curve_name(GroupCurve curve) { return curve == GroupCurve::linear ? "I+eM" : "exp(eM)"; }

/// What to build: the kind, the curve, ε and the number of members.
struct EnsembleRecipe {
  EnsembleKind kind = EnsembleKind::group;
  GroupCurve curve = GroupCurve::linear;
  double epsilon = 0.1;
  Index members = 10;
};

/// M ∈ R^{h×h} with i.i.d. N(0, 1/h) entries.
template <class Scalar, class Rng>
Eigen::Matrix<Scalar, Dynamic, Dynamic> random_direction(Index h, Rng& rng) {
  std::normal_distribution<double> normal(0.0, 1.0 / std::sqrt(static_cast<double>(h)));
  Eigen::Matrix<Scalar, Dynamic, Dynamic> m(h, h);
  for (Index j = 0; j < h; ++j)
    for (Index i = 0; i < h; ++i) m(i, j) = static_cast<Scalar>(normal(rng));
  return m;
}

/// g = I + εM or exp(εM); exactly I for ε = 0.
template <class Derived>
typename Derived::PlainObject group_element(const Eigen::MatrixBase<Derived>& m, double epsilon, GroupCurve curve) {
  using Matrix = typename Derived::PlainObject;
  using S = typename Derived::Scalar;
  const Matrix identity = Matrix::Identity(m.rows(), m.cols());
  if (epsilon == 0) return identity;
  const Matrix em = S(epsilon) * m;
  if (curve == GroupCurve::linear) return identity + em;
  return detail::matrix_exp(em);
}

/// P_ε = (I + (ε/2)(I + S)) / (1 + ε) for a permutation matrix S.
template <class Derived>
typename Derived::PlainObject interpolated_permutation(const Eigen::MatrixBase<Derived>& s, double epsilon) {
  using Matrix = typename Derived::PlainObject;
  using S = typename Derived::Scalar;
  const Matrix identity = Matrix::Identity(s.rows(), s.cols());
  return (identity + S(epsilon / 2) * (identity + s)) / S(1 + epsilon);
}

namespace detail {

/// A uniformly random permutation of 0…n−1 (Fisher–Yates on the generator's raw output).
template <class Rng>
std::vector<Index> random_permutation(Index n, Rng& rng) {
  std::vector<Index> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), Index(0));
  for (Index i = n - 1; i > 0; --i) {
    std::uniform_int_distribution<Index> pick(0, i);
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(pick(rng))]);
  }
  return p;
}

/// Columns first … first + count − 1 of `pool`, wrapping around its end.
template <class Matrix>
Matrix wrapped_columns(const Matrix& pool, Index first, Index count) {
  Matrix out(pool.rows(), count);
  for (Index j = 0; j < count; ++j) out.col(j) = pool.col((first + j) % pool.cols());
  return out;
}

}  // namespace detail

/// What building members saw in σ(gH), for the kinds that use π(g, H) (group, shuffled).
struct EnsembleDiagnostics {
  /// Members whose π(g, H) was computed.
  Index pseudoinverses = 0;
  /// Of those, members whose σ(gH) was rank-deficient or ill-conditioned (PinvOptions' limits).
  Index ill_conditioned = 0;
  /// The largest condition number σ_max/σ_min of σ(gH) seen.
  double max_condition = 0;
};

/// One member: `block` transformed by `kind` with group element g (from direction M, ε and the
/// curve), using the batch of block inputs `batch` (n × h) for π(g, H); `rng` draws the baselines'
/// extra randomness; `diagnostics`, when given, records the conditioning of σ(gH). Throws
/// std::invalid_argument on shapes that do not fit, PseudoinverseError on a non-finite σ(gH).
template <class Scalar, class Act, class Rng>
LastLayers<Scalar> transform_last_layers(const LastLayers<Scalar>& block, const Act& activation, EnsembleKind kind,
                                         const Eigen::Matrix<Scalar, Dynamic, Dynamic>& g, double epsilon,
                                         const Eigen::Matrix<Scalar, Dynamic, Dynamic>& batch, Rng& rng,
                                         EnsembleDiagnostics* diagnostics = nullptr, const PinvOptions& pinv = {}) {
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  const Index h = block.hidden();
  detail::require_shape("group element g", h, h, g.rows(), g.cols());
  LastLayers<Scalar> out = block;
  if (kind == EnsembleKind::interpolated_permutation) {
    const std::vector<Index> perm = detail::random_permutation(h, rng);
    Matrix s = Matrix::Zero(h, h);
    for (Index i = 0; i < h; ++i) s(i, perm[static_cast<std::size_t>(i)]) = Scalar(1);
    const Matrix p = interpolated_permutation(s, epsilon);
    const Eigen::PartialPivLU<Matrix> lu(p.transpose());
    out.V = p * block.V;
    if (block.has_bias()) out.b = p * block.b;
    out.U = lu.solve(block.U.transpose()).transpose();  // U P⁻¹ = (P⁻ᵀ Uᵀ)ᵀ
    return out;
  }
  out.V = g * block.V;
  if (block.has_bias()) out.b = g * block.b;
  switch (kind) {
    case EnsembleKind::group:
    case EnsembleKind::shuffled: {
      detail::require_shape("batch of block inputs", block.input_size(), h, batch.rows(), batch.cols());
      PseudoinverseRepresentation<Scalar> rep =
          try_pseudoinverse_representation(activation, g, block.hidden_preactivations(batch), pinv);
      if (rep.status == PinvStatus::not_finite)
        throw PseudoinverseError(rep.message(), rep.status, rep.rank, rep.expected_rank, rep.condition);
      if (diagnostics) {
        ++diagnostics->pseudoinverses;
        if (!rep.ok()) ++diagnostics->ill_conditioned;
        diagnostics->max_condition = std::max(diagnostics->max_condition, rep.condition);
      }
      Matrix pi = std::move(rep.matrix);
      if (kind == EnsembleKind::shuffled) {
        const std::vector<Index> rows = detail::random_permutation(h, rng);
        const std::vector<Index> cols = detail::random_permutation(h, rng);
        Matrix shuffled(h, h);
        for (Index j = 0; j < h; ++j)
          for (Index i = 0; i < h; ++i)
            shuffled(i, j) = pi(rows[static_cast<std::size_t>(i)], cols[static_cast<std::size_t>(j)]);
        pi = shuffled;
      }
      out.U = block.U * pi;
      break;
    }
    case EnsembleKind::inverse: {
      const Eigen::PartialPivLU<Matrix> lu(g.transpose());
      out.U = lu.solve(block.U.transpose()).transpose();  // U g⁻¹
      break;
    }
    case EnsembleKind::random_diagonal: {
      std::uniform_real_distribution<double> uniform(0.0, 1.0);
      Matrix gd = Matrix::Identity(h, h);
      for (Index i = 0; i < h; ++i) gd(i, i) += Scalar(epsilon * uniform(rng));
      out.U = block.U * gd;
      break;
    }
    case EnsembleKind::interpolated_permutation: break;  // handled above
  }
  return out;
}

/// The ensemble of `recipe.members` members built from the trained model (model, θ) by
/// `recipe.kind`. Member j's batch for π(g, H) is columns jh, …, jh + h − 1 of `pool` (block inputs
/// of training samples, taken cyclically), h the width of hidden layer L − 1; pass h columns for
/// one batch shared by all members. `diagnostics`, when given, accumulates the conditioning of the
/// σ(gH) met; `pinv` sets the limits that count as ill-conditioned.
template <MlpModel Model, class Rng>
LastLayersEnsemble<Model> make_ensemble(const Model& model, const typename Model::Params& theta,
                                        const Eigen::Matrix<typename Model::Scalar, Dynamic, Dynamic>& pool,
                                        const EnsembleRecipe& recipe, Rng& rng,
                                        EnsembleDiagnostics* diagnostics = nullptr, const PinvOptions& pinv = {}) {
  using Scalar = typename Model::Scalar;
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  if (recipe.members < 1)
    throw std::invalid_argument("symflow::make_ensemble: " + std::to_string(recipe.members) +
                                " members, expected at least 1");
  if (!(recipe.epsilon >= 0) || !std::isfinite(recipe.epsilon))
    throw std::invalid_argument("symflow::make_ensemble: epsilon " + std::to_string(recipe.epsilon) +
                                ", expected a finite number ≥ 0");
  LastLayersEnsemble<Model> ensemble(model, theta);
  const LastLayers<Scalar> base = ensemble.base_block();
  const Index h = base.hidden();
  if (pool.rows() != base.input_size() || pool.cols() < 1)
    throw std::invalid_argument("symflow::make_ensemble: the pool of block inputs has shape " +
                                detail::shape_string(pool.rows(), pool.cols()) + ", expected " +
                                std::to_string(base.input_size()) + " rows and at least one column");
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(recipe.members));
  for (auto& s : seeds) s = static_cast<std::uint64_t>(rng());
  for (Index j = 0; j < recipe.members; ++j) {
    std::mt19937_64 member_rng(seeds[static_cast<std::size_t>(j)]);
    const Matrix m = random_direction<Scalar>(h, member_rng);
    const Matrix g = group_element(m, recipe.epsilon, recipe.curve);
    const Matrix batch = detail::wrapped_columns(pool, (j * h) % pool.cols(), h);
    ensemble.add_member(
        transform_last_layers(base, model.activation(), recipe.kind, g, recipe.epsilon, batch, member_rng, diagnostics, pinv));
  }
  return ensemble;
}

}  // namespace symflow
