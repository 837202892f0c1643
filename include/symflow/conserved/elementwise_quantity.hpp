// SPDX-License-Identifier: MIT
#pragma once
/// \file The conserved quantity of a two-layer block with an elementwise activation and whitened
/// input (eq. 48), per hidden unit k:
///     Q_k = ½‖u_k‖² − Σ_j Φ_σ(V_kj),   Φ_σ(v) = ∫_0^v σ(x)/σ′(x) dx,
/// with V = W_1 ∈ R^{h×n} and u_k the k-th column of U = W_2 ∈ R^{m×h}.
///
/// When it is conserved. With input X = I_n (so k = n samples, one per input direction), the
/// gradients are ∇_U L = G σ(V)ᵀ and ∇_V L = (UᵀG) ⊙ σ′(V), G = ∂L/∂F, hence along gradient flow
///     d/dt ½‖u_k‖² = −Σ_j (UᵀG)_kj σ(V_kj) = d/dt Σ_j Φ_σ(V_kj).
/// This uses nothing about the loss but that it is a function of F(X): ½‖Y − F‖², the mean
/// squared error (which only rescales time by 2/(m·n)) and cross-entropy all conserve Q. It also
/// holds for hidden layer 1 of a deeper MLP (later layers only change G), and for X a permutation
/// matrix (a relabelling of the samples). It fails for other inputs: with X ≠ I the first-layer
/// gradient mixes entries, (UᵀG ⊙ σ′(VX))Xᵀ, and the potentials no longer balance. The exceptions
/// are identity and LeakyReLU, whose Φ = v²/2 makes Q_k = −½ × the scaling imbalance of
/// ScalingImbalance, conserved for every input. A bias on layer 1 breaks eq. (48).
///
/// Sign convention: as printed in eq. (48), outgoing minus incoming. For σ = identity the sum is
/// ½Tr[UᵀU − VVᵀ] (eq. 45), that is −½ Tr of LayerImbalance.

#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/conserved/potential.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

namespace detail {

/// The activation states a quadratic potential Φ(v) = c·v² or c·max(v, 0)² (its members
/// quadratic_potential<T>() = c and quadratic_potential_positive_part).
template <class A>
concept QuadraticPotentialActivation = requires(const A& a) {
  { a.template quadratic_potential<double>() } -> std::convertible_to<double>;
  { A::quadratic_potential_positive_part } -> std::convertible_to<bool>;
};

/// The activation computes Φ of a whole array at once (a member potentials(x, out), SIMD).
template <class A, class S>
concept ArrayPotentialActivation = requires(const A& a, const Eigen::Array<S, 64, 1>& x, Eigen::Array<S, 64, 1>& out) {
  a.potentials(x.head(1), out.head(1));
};

/// Whether a Sequential is the two-layer block of eq. (48): exactly Dense, an activation, Dense.
template <class Model>
consteval bool is_two_layer_sequential() {
  if constexpr (SequentialModel<Model>) return Model::num_layers == 3 && is_junction<Model, 1>;
  else return true;
}

}  // namespace detail

/// Q ∈ R^h, Q_k = ½‖column k of W_2‖² − Σ_j Φ_σ(W_1[k, j]) (eq. 48): conserved by gradient flow
/// when the input is X = I (see the file comment). Φ_σ is exact for symflow's activations and by
/// adaptive Gauss–Kronrod quadrature for a user activation.
///
/// Model: an Mlp (V = W_1, U = W_2, hidden layer 1) or a Sequential that is the two-layer block
/// itself, Dense<h> (no bias), an elementwise activation, Dense<m> (with or without a bias, which
/// plays no part), input Input<n>, any width Dynamic: V = weight<1>, U = weight<3>, read through
/// junction<Model, 1>. On the same θ (W_1 then W_2, column-major, in both) a Sequential and the
/// Mlp of the same widths (both fixed or both Dynamic: Eigen sums a fixed-size vector of per-unit
/// terms in another order) and activation give the same numbers bit for bit.
template <class Model>
class ElementwiseQuantity {
  static_assert(detail::is_two_layer_sequential<Model>(),
                "symflow::ElementwiseQuantity: eq. (48) is the quantity of the two-layer block U σ(V X); a Sequential "
                "qualifies when its layers are exactly Dense<h> (no bias), an elementwise activation, Dense<m>");
  static_assert(SequentialModel<Model> || Model::depth >= 2, "symflow::ElementwiseQuantity: the model needs a hidden layer");
  using Junction = junction<Model, 1>;
  static_assert(ElementwiseActivation<typename Junction::Activation>,
                "symflow::ElementwiseQuantity: eq. (48) needs an elementwise activation with value(z) and "
                "derivative(z); a radial activation has the angular-momentum identity instead");
  static_assert(!Junction::has_bias,
                "symflow::ElementwiseQuantity: a bias on the first layer breaks eq. (48); use symflow::Mlp, or on a "
                "Sequential a first layer Dense<h> without WithBias");

 public:
  using ModelType = Model;
  using Scalar = typename Model::Scalar;
  using Params = typename Model::Params;
  using Activation = typename Junction::Activation;
  static constexpr int hidden = Junction::width;
  using Value = Eigen::Matrix<Scalar, hidden, 1>;
  static constexpr bool is_quadratic = false;

  explicit ElementwiseQuantity(Model model, QuadratureOptions options = {})
      : model_(std::move(model)), options_(options) {}
  const Model& model() const { return model_; }
  const QuadratureOptions& quadrature() const { return options_; }

  /// Q_k for every hidden unit k. For the quadratic potentials Q_k is a difference of two sums of
  /// squares, formed in double for float weights (accumulator_t) before it is rounded.
  template <class D>
  Value value(const Eigen::MatrixBase<D>& p) const {
    using A = accumulator_t<Scalar>;
    if constexpr (quadratic_potential) {
      auto q = column_sums_of_squares(Junction::out_weight(model_, p));
      q *= A(0.5);
      q.noalias() -= quadratic_potentials(p);
      if constexpr (std::is_same_v<A, Scalar>) return q;
      else return q.template cast<Scalar>();
    } else if constexpr (!std::is_same_v<A, Scalar>) {
      // Float: both terms in double, so that Q_k keeps its digits when they nearly cancel.
      auto q = column_sums_of_squares(Junction::out_weight(model_, p));
      q *= A(0.5);
      q.noalias() -= accurate_potentials(p);
      return q.template cast<Scalar>();
    } else {
      Value q = Scalar(0.5) * Junction::out_weight(model_, p).colwise().squaredNorm().transpose();
      q.noalias() -= potentials(p);
      return q;
    }
  }

  /// Σ_j Φ_σ(W_1[k, j]) for every unit k: the incoming term, summed column by column, in memory
  /// order (the quadratic potentials as row sums of squares, in double for float weights).
  template <class D>
  Value potentials(const Eigen::MatrixBase<D>& p) const {
    const auto v = Junction::in_weight(model_, p);
    const Activation& act = Junction::activation(model_);
    if constexpr (quadratic_potential) {
      if constexpr (std::is_same_v<accumulator_t<Scalar>, Scalar>) return quadratic_potentials(p);
      else return quadratic_potentials(p).template cast<Scalar>();
    } else if constexpr (detail::ArrayPotentialActivation<Activation, Scalar>) {
      return array_potentials<Scalar>(v);
    } else {
      Value out = Value::Zero(v.rows());
      for (Index j = 0; j < v.cols(); ++j)
        for (Index k = 0; k < v.rows(); ++k) out[k] += activation_potential(act, v(k, j), options_);
      return out;
    }
  }

  /// f₁ = ½‖U‖²_F, the outgoing term of the sum (the normalisation of Appendix D uses it), in
  /// accumulator_t<Scalar>: summed and returned in double for float weights, so that f₁ − f₂
  /// (NormalisedDrift) keeps its digits when the two nearly cancel.
  template <class D>
  accumulator_t<Scalar> outgoing(const Eigen::MatrixBase<D>& p) const {
    if constexpr (std::is_same_v<accumulator_t<Scalar>, Scalar>) return Scalar(0.5) * Junction::out_weight(model_, p).squaredNorm();
    else return accumulator_t<Scalar>(0.5) * sum_of_squares(Junction::out_weight(model_, p));
  }
  /// f₂ = Σ_kj Φ_σ(V_kj), the incoming term of the sum, in accumulator_t<Scalar> as f₁.
  template <class D>
  accumulator_t<Scalar> incoming(const Eigen::MatrixBase<D>& p) const {
    if constexpr (std::is_same_v<accumulator_t<Scalar>, Scalar>) return potentials(p).sum();
    else return accurate_potentials(p).sum();
  }

  template <class S>
  ElementwiseQuantity<typename Model::template Rebind<S>> cast() const {
    return ElementwiseQuantity<typename Model::template Rebind<S>>(model_.template cast<S>(), options_);
  }
  static std::string name() { return "elementwise_quantity"; }

 private:
  static constexpr bool quadratic_potential = detail::QuadraticPotentialActivation<Activation>;

  /// Σ_j Φ(W_1[k, j]) per unit for an activation that computes Φ of whole arrays (its member
  /// potentials(x, out), SIMD: tanh and sigmoid through e^x − 1), each Φ computed and summed in T
  /// (the scalar, or double for float weights), over W_1 in memory order (the weight view is
  /// contiguous), a chunk of 64 entries at a time, each added to its unit's sum in the same order as
  /// activation_potential entry by entry.
  ///
  /// From detail::parallel_sum_from entries on, W_1 is cut into a fixed number of bands of whole
  /// chunks (at most array_potential_bands, set by the size alone): every band sums its entries per
  /// unit as above, and the band sums are added per unit in band order. The bands run on
  /// detail::sum_threads threads (compiled with OpenMP), each on one, so every entry's Φ is the same
  /// packet or scalar evaluation (Eigen evaluates the last entries of a chunk that fill no packet
  /// one by one, through another formula) and every unit the same sequence of additions: the same
  /// bits on any number of threads and inside a sweep.
  template <class T, class V>
  Eigen::Matrix<T, hidden, 1> array_potentials(const V& v) const {
    const Activation& act = Junction::activation(model_);
    constexpr Index chunk = 64;
    const Index rows = v.rows(), total = v.size();
    // o[k] += Φ of the entries [first, last) of unit k, first a multiple of chunk.
    const auto add_chunks = [&](T* o, Index first, Index last) {
      Eigen::Array<T, chunk, 1> phi;
      Index k = first == 0 ? 0 : first % rows;  // rows > 0 when first > 0
      for (Index start = first; start < last; start += chunk) {
        const Index len = std::min(chunk, last - start);
        const auto x = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(v.data() + start, len).template cast<T>();
        auto e = phi.head(len);
        act.potentials(x, e);
        for (Index i = 0; i < len; ++i) {
          o[k] += e[i];
          if (++k == rows) k = 0;
        }
      }
    };
    Eigen::Matrix<T, hidden, 1> out = Eigen::Matrix<T, hidden, 1>::Zero(rows);
    if (total < detail::parallel_sum_from) {
      add_chunks(out.data(), 0, total);
      return out;
    }
    const Index chunks = (total + chunk - 1) / chunk, bands = std::min(array_potential_bands, chunks);
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> sums = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Zero(rows, bands);
    const auto band = [&](Index b) {
      add_chunks(sums.col(b).data(), b * chunks / bands * chunk, std::min(total, (b + 1) * chunks / bands * chunk));
    };
#if defined(_OPENMP)
    // One thread (a sweep's item, or Eigen::nbThreads() = 1) runs the same loop, serially.
    const int threads = detail::sum_threads(total);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (Index b = 0; b < bands; ++b) band(b);
    for (Index b = 0; b < bands; ++b) out += sums.col(b);
    return out;
  }
  /// The bands of array_potentials at large sizes: enough that 2, 3 or 4 threads share them within
  /// a few per cent, few enough that their per-unit sums (bands × h values) cost nothing beside Φ.
  static constexpr Index array_potential_bands = 48;

  /// Σ_j Φ(W_1[k, j]) per unit in accumulator_t<Scalar> (double for float weights): each Φ of a
  /// float weight evaluated in double where symflow has Φ (quadratic, tanh, sigmoid), every sum in
  /// double. The float path of value(), outgoing() and incoming().
  template <class D>
  Eigen::Matrix<accumulator_t<Scalar>, hidden, 1> accurate_potentials(const Eigen::MatrixBase<D>& p) const {
    using A = accumulator_t<Scalar>;
    const auto v = Junction::in_weight(model_, p);
    if constexpr (quadratic_potential) {
      return quadratic_potentials(p);
    } else if constexpr (detail::ArrayPotentialActivation<Activation, A>) {
      return array_potentials<A>(v);
    } else {
      Eigen::Matrix<A, hidden, 1> out = Eigen::Matrix<A, hidden, 1>::Zero(v.rows());
      for (Index j = 0; j < v.cols(); ++j)
        for (Index k = 0; k < v.rows(); ++k) out[k] += static_cast<A>(activation_potential(Junction::activation(model_), v(k, j), options_));
      return out;
    }
  }

  /// Φ(v) = c·v² (identity, LeakyReLU: c = ½) or c·max(v, 0)² (ReLU: c = ½, Homogeneous: c = 1/(2α)),
  /// summed per unit: sums of squares of the rows of W_1 (of their positive parts).
  template <class D>
  auto quadratic_potentials(const Eigen::MatrixBase<D>& p) const {
    using A = accumulator_t<Scalar>;
    const auto v = Junction::in_weight(model_, p);
    const A c = Junction::activation(model_).template quadratic_potential<A>();
    return (c * row_sums_of_squares<Activation::quadratic_potential_positive_part>(v)).eval();
  }

  Model model_;
  QuadratureOptions options_;
};

}  // namespace symflow
