// SPDX-License-Identifier: MIT
#pragma once
/// \file How many conservation laws does gradient flow have at θ, and do known quantities account
/// for all of them?
///
/// Marcotte, Gribonval and Peyré, "Abide by the Law and Follow the Flow" (NeurIPS 2023), Thm. 3.3
/// and Prop. 3.6: a function h is conserved by the gradient flow of every loss whose per-sample
/// gradient fields lie in the family W iff ⟨∇h, X⟩ = 0 for every X in the Lie algebra Lie(W) that W
/// generates; where the trace Lie(W)(θ) = {X(θ) : X ∈ Lie(W)} has locally constant dimension r, there
/// are exactly d − r independent such h near θ (Frobenius).
///
/// Counting. Lie(W) is spanned by right-nested brackets [Y_1, [Y_2, …, Y_k]] of fields of W, and
/// (Y_1, …, Y_k) ↦ [Y_1, [Y_2, …, Y_k]](θ) is multilinear. So the trace of the brackets of length k is
/// spanned by the values at independent random Gaussian combinations Y_i = Σ c_ij X_j: a value
/// falls in a proper subspace with probability zero unless the whole image does. The span is grown
/// depth by depth (length ≤ k): random bracket values are drawn until `patience` draws in a row add
/// nothing (each draw costs one exact bracket, lie_bracket), so only as many brackets are evaluated
/// as the rank needs (about its dimension plus patience per depth), never the N^k of all index tuples.
///
/// Stopping. With D_k the span of the brackets of length ≤ k: if dim D_{k+1} = dim D_k on a
/// neighbourhood, then every [X_i, Z] with Z a bracket of length ≤ k lies in D_k there, and so by
/// induction do all longer brackets: D_k is the whole trace. At a generic θ dimensions are locally
/// constant (they are lower semicontinuous and maximal on an open dense set), so the first k ≥ 2
/// with dim D_k = dim D_{k−1} at θ ends the count; at a non-generic θ (dead units, rank drops) the
/// count is that of θ and can differ from the generic one.
///
/// Rank. The drawn values are normalised to unit length, and the rank of the d × (draws) matrix of
/// all of them is the number of singular values above threshold·σ_1. The count is the same for every
/// threshold inside (σ_{r+1}/σ_1, σ_r/σ_1), returned as `stable_range`: exact identities leave
/// σ_{r+1}/σ_1 at rounding level (about 1e-15 to 1e-13 in double).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/SVD>

#include "symflow/analysis/gradient_fields.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/core/config.hpp"

namespace symflow {

/// How count_conservation_laws grows and ranks the span.
struct ConservationLawOptions {
  /// Longest bracket evaluated, 1 to the MaxDepth template argument; 0 means MaxDepth.
  int max_depth = 0;
  /// Relative singular-value threshold: σ_i counts when σ_i > threshold·σ_1 (values are unit vectors).
  double threshold = 1e-9;
  /// Draws in a row that must add nothing before a depth is complete.
  int patience = 2;
  /// Seed of the random combinations.
  std::uint64_t seed = 1;
};

/// The answer: dimensions per depth, the count, and what the rank decision rests on.
struct ConservationLawCount {
  /// d.
  Index parameters = 0;
  /// dimension_per_depth[k − 1] = dim of the span at θ of the brackets of length ≤ k.
  std::vector<Index> dimension_per_depth;
  /// Bracket values drawn at each depth.
  std::vector<Index> draws_per_depth;
  /// r = dim Lie(W)(θ), the last entry of dimension_per_depth.
  Index dimension = 0;
  /// d − r: the number of independent conservation laws near θ.
  Index laws = 0;
  /// The dimension stopped growing (or reached d) before max_depth; otherwise `laws` is an upper bound.
  bool converged = false;
  /// Singular values of the matrix of all normalised bracket values, descending.
  Eigen::VectorXd singular_values;
  /// The relative threshold used.
  double threshold = 0;
  /// (σ_{r+1}/σ_1, σ_r/σ_1): every threshold strictly inside gives the same count (0 past the end).
  std::pair<double, double> stable_range{0, 0};
  /// Orthonormal basis of the trace (d × r) and of its orthogonal complement (d × laws): the
  /// gradients of the conservation laws at θ span the complement.
  Eigen::MatrixXd trace_basis;
  Eigen::MatrixXd law_gradients;
  /// Wall-clock time of the count.
  double seconds = 0;
};

namespace detail {

inline Index rank_above(const Eigen::VectorXd& sv, double threshold) {
  if (sv.size() == 0 || !(sv[0] > 0)) return 0;
  Index r = 0;
  while (r < sv.size() && sv[r] > threshold * sv[0]) ++r;
  return r;
}

inline void check_options(const ConservationLawOptions& o, int max_depth) {
  if (o.max_depth < 0 || o.max_depth > max_depth)
    throw std::invalid_argument("symflow::count_conservation_laws: max_depth is " + std::to_string(o.max_depth) +
                                ", expected 0 (the MaxDepth template argument, " + std::to_string(max_depth) +
                                ") or 1 to " + std::to_string(max_depth));
  if (!(o.threshold > 0 && o.threshold < 1))
    throw std::invalid_argument("symflow::count_conservation_laws: threshold is " + std::to_string(o.threshold) +
                                ", expected a number in (0, 1)");
  if (o.patience < 1)
    throw std::invalid_argument("symflow::count_conservation_laws: patience is " + std::to_string(o.patience) +
                                ", expected at least 1");
}

}  // namespace detail

/// Counts the conservation laws at θ of the gradient flows whose per-sample gradient fields are
/// `fields` (see the file comment): the dimension of the Lie algebra they generate, traced at θ,
/// depth by depth, and d minus it.
template <int MaxDepth = default_max_bracket_depth, GradientFieldFamily F>
ConservationLawCount count_conservation_laws(const F& fields, const Eigen::VectorXd& theta,
                                             const ConservationLawOptions& options = {}) {
  detail::check_options(options, MaxDepth);
  const int max_depth = options.max_depth == 0 ? MaxDepth : options.max_depth;
  detail::require_length("parameter vector θ", fields.size(), theta.size());
  if (!theta.allFinite()) throw std::invalid_argument("symflow::count_conservation_laws: θ has a non-finite entry");
  const auto start = std::chrono::steady_clock::now();
  const Index d = fields.size();
  const Index n = fields.count();
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal;
  const auto draw = [&] {
    Eigen::VectorXd c(n);
    for (Index j = 0; j < n; ++j) c[j] = normal(rng);
    return c;
  };

  ConservationLawCount out;
  out.parameters = d;
  out.threshold = options.threshold;
  Eigen::MatrixXd basis(d, 0);   // orthonormal, grown by accepted draws (decides when a depth is done)
  Eigen::MatrixXd values(d, 0);  // every normalised draw (decides the rank)
  Index rank = 0;
  for (int depth = 1; depth <= max_depth; ++depth) {
    Index draws = 0;
    for (int misses = 0; misses < options.patience && basis.cols() < d;) {
      std::vector<Eigen::VectorXd> c(static_cast<std::size_t>(depth));
      for (auto& ci : c) ci = draw();
      Eigen::VectorXd v = lie_bracket<MaxDepth>(fields, theta, c);
      const double scale = depth == 1 ? v.norm() : lie_bracket_scale<MaxDepth>(fields, theta, c);
      ++draws;
      if (!std::isfinite(scale) || !v.allFinite())
        throw std::runtime_error("symflow::count_conservation_laws: a bracket of length " + std::to_string(depth) +
                                 " is not finite at θ");
      if (scale == 0) { ++misses; continue; }
      v /= scale;
      values.conservativeResize(Eigen::NoChange, values.cols() + 1);
      values.col(values.cols() - 1) = v;
      Eigen::VectorXd w = v;
      for (int pass = 0; pass < 2; ++pass) w -= basis * (basis.transpose() * w);  // twice is enough
      const double residual = w.norm();
      if (residual > options.threshold) {
        basis.conservativeResize(Eigen::NoChange, basis.cols() + 1);
        basis.col(basis.cols() - 1) = w / residual;
        misses = 0;
      } else {
        ++misses;
      }
    }
    // One-sided Jacobi: small singular values to high relative accuracy, which the rank decision
    // near rounding level needs (and a quarter of the compile cost of Eigen's BDCSVD).
    out.singular_values = values.cols() ? Eigen::VectorXd(Eigen::JacobiSVD<Eigen::MatrixXd>(values).singularValues())
                                        : Eigen::VectorXd();
    const Index previous = rank;
    rank = detail::rank_above(out.singular_values, options.threshold);
    out.dimension_per_depth.push_back(rank);
    out.draws_per_depth.push_back(draws);
    if (rank == d || (depth >= 2 && rank == previous)) {
      out.converged = true;
      break;
    }
  }
  out.dimension = rank;
  out.laws = d - rank;
  const auto& sv = out.singular_values;
  const double top = sv.size() && sv[0] > 0 ? sv[0] : 1.0;
  out.stable_range = {rank < sv.size() ? sv[rank] / top : 0.0, rank > 0 ? sv[rank - 1] / top : 1.0};
  if (values.cols() > 0) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(values, Eigen::ComputeFullU);
    out.trace_basis = svd.matrixU().leftCols(rank);
    out.law_gradients = svd.matrixU().rightCols(d - rank);
  } else {
    out.trace_basis = Eigen::MatrixXd(d, 0);
    out.law_gradients = Eigen::MatrixXd::Identity(d, d);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

/// "All data": counts with `fields_for(k)` (a family over k samples drawn from the data distribution)
/// for k = samples, 2·samples, … until two successive counts agree, at most `max_samples`. Returns
/// the last count; `samples_used` is the k it was made with. Let the k samples be the first k of one
/// stream: each count then sees every field of the one before, so the counts can only fall and a
/// repeat means doubling the data found nothing new. Regions of small probability (for ReLU, a thin
/// wedge between two nearly parallel unit lines) need samples in proportion to 1/probability; until
/// one lands there the units involved count as one linear block.
struct DataConservationLawCount {
  ConservationLawCount count;
  Index samples_used = 0;
  /// The two successive counts agreed (otherwise max_samples was reached first).
  bool stable = false;
};

template <int MaxDepth = default_max_bracket_depth, class MakeFields>
DataConservationLawCount count_conservation_laws_over_data(MakeFields&& fields_for, const Eigen::VectorXd& theta,
                                                           Index samples, Index max_samples,
                                                           const ConservationLawOptions& options = {}) {
  if (samples < 1 || max_samples < samples)
    throw std::invalid_argument("symflow::count_conservation_laws_over_data: samples " + std::to_string(samples) +
                                " and max_samples " + std::to_string(max_samples) +
                                ", expected 1 ≤ samples ≤ max_samples");
  DataConservationLawCount out;
  out.count = count_conservation_laws<MaxDepth>(fields_for(samples), theta, options);
  out.samples_used = samples;
  while (2 * out.samples_used <= max_samples) {
    const Index k = 2 * out.samples_used;
    ConservationLawCount next = count_conservation_laws<MaxDepth>(fields_for(k), theta, options);
    const bool same = next.laws == out.count.laws;
    out.count = std::move(next);
    out.samples_used = k;
    if (same) {
      out.stable = true;
      break;
    }
  }
  return out;
}

/// Whether the gradients of known quantities account for the counted laws.
struct LawAccounting {
  /// The counted laws, d − r.
  Index laws = 0;
  /// Rank of the known quantities' gradients at θ (after removing any component along the trace).
  Index explained = 0;
  /// laws − explained: conservation laws that the known quantities do not give.
  Index missing = 0;
  /// Number of scalar quantities (entries) examined.
  Index quantities = 0;
  /// max over entries of |component of ∇Q along the trace| / ‖∇Q‖: near rounding when every known
  /// quantity is indeed conserved for these fields; large when one is not (e.g. eq. 48 with X ≠ I).
  double violation = 0;
  /// Singular values of the (unit) gradients projected on the law space, descending.
  Eigen::VectorXd singular_values;
};

namespace detail {

template <class T> struct is_tuple : std::false_type {};
template <class... T> struct is_tuple<std::tuple<T...>> : std::true_type {};

/// Entry-wise view of a quantity's value (scalar, vector or matrix).
template <class V>
void append_entries(const V& v, std::vector<double>& out) {
  if constexpr (std::is_arithmetic_v<V>) {
    out.push_back(static_cast<double>(v));
  } else {
    for (Index j = 0; j < v.cols(); ++j)
      for (Index i = 0; i < v.rows(); ++i) out.push_back(static_cast<double>(v(i, j)));
  }
}

/// Rows: the gradient at θ of each scalar entry of q, exact (one directional derivative per coordinate).
template <class Q>
Eigen::MatrixXd quantity_gradients(const Q& q, const Eigen::VectorXd& theta) {
  const Index d = theta.size();
  const typename Q::Params p = theta;
  std::vector<std::vector<double>> columns;
  for (Index i = 0; i < d; ++i) {
    typename Q::Params e = Q::Params::Zero(d);
    e[i] = 1;
    std::vector<double> entries;
    append_entries(directional_derivative(q, p, e), entries);
    columns.push_back(std::move(entries));
  }
  Eigen::MatrixXd g(static_cast<Index>(columns.front().size()), d);
  for (Index i = 0; i < d; ++i)
    for (Index r = 0; r < g.rows(); ++r) g(r, i) = columns[static_cast<std::size_t>(i)][static_cast<std::size_t>(r)];
  return g;
}

}  // namespace detail

/// Do the conserved quantities whose gradients at θ are the rows of `gradients` (one row per scalar
/// entry, d columns) account for every law of `count`? The rows are projected on the law space (the
/// orthogonal complement of the trace) and ranked with count's threshold: `explained` independent
/// laws, `missing` = laws − explained, and `violation` says whether each is conserved.
/// (A template, so that JacobiSVD<MatrixXd> is instantiated only where it is called, not in every
/// file that includes this header: 3 s of g++'s front end.)
template <class D>
LawAccounting account_for_law_gradients(const ConservationLawCount& count, const Eigen::MatrixBase<D>& gradients) {
  static_assert(std::is_same_v<typename D::Scalar, double>,
                "symflow::account_for_law_gradients: the gradients are double, like the count's law space");
  if (gradients.cols() != count.parameters)
    throw std::invalid_argument("symflow::account_for_law_gradients: the gradients have " +
                                std::to_string(gradients.cols()) + " columns, expected d = " +
                                std::to_string(count.parameters) + " (one row per quantity entry)");
  LawAccounting out;
  out.laws = count.laws;
  out.quantities = gradients.rows();
  Eigen::MatrixXd projected(gradients.rows(), count.law_gradients.cols());
  for (Index r = 0; r < gradients.rows(); ++r) {
    const double norm = gradients.row(r).norm();
    if (norm == 0) {
      projected.row(r).setZero();
      continue;
    }
    const Eigen::RowVectorXd unit = gradients.row(r) / norm;
    if (count.trace_basis.cols() > 0)
      out.violation = std::max(out.violation, (unit * count.trace_basis).norm());
    projected.row(r) = unit * count.law_gradients;
  }
  if (projected.size() > 0) {
    out.singular_values = Eigen::JacobiSVD<Eigen::MatrixXd>(projected).singularValues();
    out.explained = std::min(detail::rank_above(out.singular_values, count.threshold), count.laws);
  }
  out.missing = out.laws - out.explained;
  return out;
}

/// Do the quantities q… (symflow quantities or the user's own, anything directional_derivative
/// accepts, or tuples of them such as conserved<I>(net)) account for every law of `count` at θ? Their
/// exact gradients at θ go to account_for_law_gradients.
template <class... Q>
LawAccounting account_for_laws(const ConservationLawCount& count, const Eigen::VectorXd& theta, const Q&... quantities) {
  detail::require_length("parameter vector θ", count.parameters, theta.size());
  Eigen::MatrixXd g(0, theta.size());
  // A tuple of quantities (what conserved<I>(net) returns for a junction of a layered model) counts
  // as its members.
  [[maybe_unused]] const auto append = [&](const auto& self, const auto& q) -> void {
    if constexpr (detail::is_tuple<std::remove_cvref_t<decltype(q)>>::value) {
      std::apply([&](const auto&... members) { (self(self, members), ...); }, q);
    } else {
      const Eigen::MatrixXd rows = detail::quantity_gradients(q, theta);
      g.conservativeResize(g.rows() + rows.rows(), Eigen::NoChange);
      g.bottomRows(rows.rows()) = rows;
    }
  };
  (append(append, quantities), ...);
  return account_for_law_gradients(count, g);
}

}  // namespace symflow
