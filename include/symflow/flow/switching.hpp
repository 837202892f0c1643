// SPDX-License-Identifier: MIT
#pragma once
/// \file The switching surfaces of gradient flow on a network with a piecewise-linear activation.
///
/// With σ(z) = s₋z for z < 0 and s₊z for z ≥ 0 (ReLU: s₋ = 0, LeakyReLU: s₋ = slope; s₊ = 1), L(θ)
/// is smooth on each region where every hidden pre-activation z_i(θ) (one per hidden unit and
/// sample) keeps its sign, and ∇L jumps across the switching surfaces z_i = 0. On a region L is the
/// piece L_P in which each σ is the linear map of its side, σ(z_i) = c_i z_i with c_i ∈ {s₋, s₊};
/// L_P is smooth everywhere, so an integrator can take full-order steps with it up to a surface
/// and find the crossing on its dense output (the pieces agree on the surface: both give a_i = 0).
///
/// Sliding (Filippov). On a surface of the first hidden layer, z_i = w_k·x_j (+ b_k) is linear in
/// θ with a constant normal n_i = ∂z_i/∂θ (x_j in row k of W_1, and 1 at b_k). The fields of the two
/// sides differ only along n_i: ∇L_{c_i = s₊} − ∇L_{c_i = s₋} = m_i n_i with m_i = (s₊ − s₋) ∂L/∂a_i,
/// since a_i = 0 on the surface whichever side σ is taken from. When both sides push into the
/// surface, Filippov's solution slides on it with θ̇ = −(∇L_{c_i = s₋} + λ_i m_i n_i), λ_i ∈ [0, 1]
/// the convex weight that makes θ̇ tangent, i.e. θ̇ = −Π∇L_{c_i = s₋} with Π the orthogonal
/// projection onto the surface. For a set A of sliding surfaces Π projects out span{n_i : i ∈ A}
/// and the weights solve (NᵀN)(λ⊙m) = −Nᵀ∇L (N = [n_i], i ∈ A): surfaces of different units are
/// orthogonal, so this is one small least-squares problem per hidden unit. The trajectory slides
/// while every λ_i ∈ [0, 1]; λ_i reaching 0 releases it to the side s₋, reaching 1 to the side s₊.
/// On deeper layers the surfaces are curved (their normal depends on θ); there the integrator
/// reports a stall instead of sliding (see dormand_prince.hpp).

#include <algorithm>
#include <array>
#include <concepts>
#include <limits>
#include <type_traits>
#include <vector>

#include <Eigen/Householder>
#include <Eigen/QR>

#include "symflow/core/config.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/stopping.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/mlp.hpp"

namespace symflow {

/// σ(z) = s₋z for z < 0 and s₊z for z ≥ 0, with kink_slopes() = {s₋, s₊} (ReLU, LeakyReLU).
template <class A>
concept KinkedLinearActivation = ElementwiseActivation<A> && requires(const A& a) {
  { a.kink_slopes() } -> std::convertible_to<std::array<double, 2>>;
};

/// An objective over an Mlp with a piecewise-linear hidden activation and a fixed batch (X, Y),
/// such as symflow::Objective: its gradient flow has switching surfaces at the hidden kinks.
template <class O>
concept PiecewiseLinearObjective =
    DifferentiableObjective<O> && !StochasticObjective<O> &&
    requires(const O& o) {
      typename O::ModelType;
      o.model();
      o.inputs();
      o.targets();
      o.loss();
    } && MlpModel<typename O::ModelType> && KinkedLinearActivation<typename O::ModelType::Activation> &&
    (O::ModelType::depth >= 2);

/// The hidden pre-activations of an objective's network on its batch, as switching functions
/// z_i(θ) numbered layer by layer, sample by sample, unit by unit (i = offset(I) + j·n_I + k); the
/// current piece (the side of each switch, or sliding); the piece's loss, gradient and the
/// projected (sliding) field. A workspace sized once per run.
template <class O>
class SwitchingSurfaces {
 public:
  using Model = typename O::ModelType;
  using Scalar = typename O::Scalar;
  using Params = typename O::Params;
  using Vector = Eigen::Matrix<Scalar, Dynamic, 1>;
  using Matrix = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  static constexpr int depth = Model::depth;

  explicit SwitchingSurfaces(const O& objective) : samples_(objective.inputs().cols()) {
    const Model& model = objective.model();
    Index total = 0;
    for (int i = 1; i < depth; ++i) {
      offset_[i] = total;
      total += model.width(i) * samples_;
      post_[i] = Matrix::Zero(model.width(i), samples_);
      back_[i] = Matrix::Zero(model.width(i), samples_);
      post_rate_[i] = Matrix::Zero(model.width(i), samples_);
    }
    offset_[depth] = total;
    for (int i = 1; i <= depth; ++i) g_[i] = Matrix::Zero(model.width(i), samples_);
    output_ = Matrix::Zero(model.output_size(), samples_);
    const auto slopes = model.activation().kink_slopes();
    below_ = static_cast<Scalar>(slopes[0]);
    above_ = static_cast<Scalar>(slopes[1]);
    z_ = Vector::Zero(total);
    rate_ = Vector::Zero(total);
    side_ = Vector::Ones(total);
    slope_ = Vector::Constant(total, above_);
    lambda_ = Vector::Zero(total);
    allowance_ = Vector::Zero(total);
  }

  /// The activation has a kink (s₋ ≠ s₊); LeakyReLU{1} is the identity and has none.
  bool kinked() const { return below_ != above_; }
  /// The number of switching functions, Σ over hidden layers of n_I · k.
  Index count() const { return offset_[depth]; }
  /// Which hidden layer, unit and sample switching function i belongs to.
  SwitchLocation locate(Index i, const Model& model) const {
    int layer = 1;
    while (layer + 1 < depth && i >= offset_[layer + 1]) ++layer;
    const Index r = i - offset_[layer];
    return {layer, r % model.width(layer), r / model.width(layer)};
  }

  /// z_i at the last point evaluated (with the current piece).
  const Vector& values() const { return z_; }
  /// dz_i/dt along the field at the last point evaluated (after rates()).
  const Vector& rates() const { return rate_; }
  /// λ_i of the sliding switches at the last point evaluated (after evaluate()).
  const Vector& weights() const { return lambda_; }
  /// +1 (side s₊), −1 (side s₋), or 0 for a sliding switch.
  Scalar side(Index i) const { return side_[i]; }
  bool sliding(Index i) const { return side_[i] == Scalar(0); }
  bool any_sliding() const { return !units_.empty(); }

  /// φ_i ≥ 0 while switch i agrees with the piece: side·z_i + its rounding allowance on a side,
  /// min(λ_i, 1 − λ_i) sliding.
  Scalar event(Index i) const { return event(i, z_, lambda_); }
  Scalar event(Index i, const Vector& z, const Vector& lambda) const {
    return sliding(i) ? std::min(lambda[i], Scalar(1) - lambda[i]) : side_[i] * z[i] + allowance_[i];
  }
  /// Sets each switch's allowance to the rounding error of z_i at θ, 16ε(|W||a| + |b|)_i, or twice
  /// |z_i| if z_i is on the wrong side of its piece, so that a pre-activation at 0 to rounding (a
  /// kink just crossed, or left tangentially) is not taken for a crossing; θ must be the point of
  /// the last evaluate() or forward().
  void allow_rounding(const O& objective, const Params& theta) {
    const Model& model = objective.model();
    const Scalar scale = Scalar(16) * std::numeric_limits<Scalar>::epsilon();
    for (int i = 1; i < depth; ++i) {
      auto band = block(allowance_, model, i);
      if (i == 1) band.noalias() = scale * (model.weight_at(1, theta).cwiseAbs() * objective.inputs().cwiseAbs());
      else band.noalias() = scale * (model.weight_at(i, theta).cwiseAbs() * post_[i - 1].cwiseAbs());
      if constexpr (Model::has_bias) band.colwise() += scale * bias(model, i, theta).cwiseAbs();
    }
    // A kink left on a side while z_i has, by accumulated rounding, the other sign.
    allowance_ = allowance_.cwiseMax(Scalar(-2) * side_.cwiseProduct(z_));
  }
  /// The switch with the most negative φ at the last point evaluated, or −1 if every φ ≥ 0.
  Index most_violated() const {
    Index worst = -1;
    Scalar value(0);
    if (count() > 0) {
      Index i = 0;
      const Scalar m = (side_.array() * z_.array() + allowance_.array()).minCoeff(&i);  // sliding: 0
      if (m < Scalar(0)) {
        worst = i;
        value = m;
      }
    }
    for (const SlidingUnit& u : units_)
      for (const Index i : u.switches)
        if (const Scalar e = event(i); e < value) {
          worst = i;
          value = e;
        }
    return worst;
  }

  /// Puts every switch on the side of the sign of its pre-activation at θ (z ≥ 0: s₊), none sliding.
  void reset(const O& objective, const Params& theta) {
    units_.clear();
    forward(objective, theta, true);
    allow_rounding(objective, theta);
  }
  /// Puts switch i on side +1 (s₊) or −1 (s₋); call rebuild() if it was sliding.
  void set_side(Index i, Scalar side) {
    side_[i] = side;
    slope_[i] = side > Scalar(0) ? above_ : below_;
  }
  /// Makes switch i slide (its piece is s₋ plus the multiple of the normal that keeps z_i = 0).
  void start_sliding(Index i) {
    side_[i] = Scalar(0);
    slope_[i] = below_;
  }

  /// Rebuilds the projections after the sliding set changed. Returns the first sliding switch
  /// whose surface is not independent of the others of its unit (or lies on a deeper layer), or −1.
  Index rebuild(const O& objective) {
    const Model& model = objective.model();
    units_.clear();
    const Index hidden = model.width(1);
    const Index rows = model.width(0) + (Model::has_bias ? 1 : 0);
    for (Index i = offset_[1]; i < offset_[depth]; ++i) {
      if (!sliding(i)) continue;
      if (i >= offset_[1] + hidden * samples_) return i;  // a deeper layer: curved surface
      const Index unit = (i - offset_[1]) % hidden;
      auto it = std::find_if(units_.begin(), units_.end(), [&](const SlidingUnit& u) { return u.unit == unit; });
      if (it == units_.end()) {
        units_.push_back(SlidingUnit{unit, {}, {}, {}, {}, {}});
        it = units_.end() - 1;
      }
      it->switches.push_back(i);
    }
    for (SlidingUnit& u : units_) {
      const Index a = static_cast<Index>(u.switches.size());
      if (a > rows) return u.switches.back();
      Matrix normals(rows, a);
      for (Index t = 0; t < a; ++t) {
        const Index sample = (u.switches[t] - offset_[1]) / hidden;
        normals.col(t).head(model.width(0)) = objective.inputs().col(sample);
        if constexpr (Model::has_bias) normals(rows - 1, t) = Scalar(1);
      }
      const Eigen::HouseholderQR<Matrix> qr(normals);
      u.q = qr.householderQ() * Matrix::Identity(rows, a);
      u.r = qr.matrixQR().topRows(a).template triangularView<Eigen::Upper>();
      const Scalar scale = normals.norm();
      for (Index t = 0; t < a; ++t) {
        using std::abs;
        if (!(abs(u.r(t, t)) > Scalar(1e3) * std::numeric_limits<Scalar>::epsilon() * scale)) return u.switches[t];
      }
      u.row = Vector::Zero(rows);
      u.coefficients = Vector::Zero(a);
    }
    return -1;
  }

  /// The piece's pre-activations at θ into values() (a forward pass, no gradient).
  void forward(const O& objective, const Params& theta) { forward(objective, theta, false); }

  /// L_P(θ) of the current piece, and into `field` its gradient, projected onto the sliding
  /// surfaces (θ̇ = −field); also values() and, for sliding switches, weights() at θ.
  Scalar evaluate(const O& objective, const Params& theta, Params& field) {
    const Model& model = objective.model();
    if constexpr (Params::SizeAtCompileTime == Dynamic) {
      if (field.size() != theta.size()) field.resize(theta.size());
    }
    forward(objective, theta, false);
    const Scalar loss = objective.loss().value(output_, objective.targets());
    g_[depth] = objective.loss().gradient(output_, objective.targets());
    for (int i = depth; i >= 1; --i) {
      auto gw = model.weight_at(i, field);
      if (i == 1) gw.noalias() = g_[1] * objective.inputs().transpose();
      else gw.noalias() = g_[i] * post_[i - 1].transpose();
      if constexpr (Model::has_bias) bias(model, i, field) = g_[i].rowwise().sum();
      if (i > 1) {
        back_[i - 1].noalias() = model.weight_at(i, theta).transpose() * g_[i];
        g_[i - 1].array() = back_[i - 1].array() * block(slope_, model, i - 1).array();
      }
    }
    project(model, field);
    return loss;
  }

  /// dz_i/dt along θ̇ = −field at θ, for every switch (forward-mode through the piece); θ must be the
  /// point of the last evaluate() or forward().
  void rates(const O& objective, const Params& theta, const Params& field) {
    const Model& model = objective.model();
    for (int i = 1; i < depth; ++i) {
      auto dz = block(rate_, model, i);
      if (i == 1) {
        dz.noalias() = model.weight_at(1, field) * objective.inputs();
        dz = -dz;
      } else {
        dz.noalias() = model.weight_at(i, theta) * post_rate_[i - 1];
        dz.noalias() -= model.weight_at(i, field) * post_[i - 1];
      }
      if constexpr (Model::has_bias) dz.colwise() -= bias(model, i, field);
      post_rate_[i].array() = dz.array() * block(slope_, model, i).array();
    }
  }

 private:
  struct SlidingUnit {
    Index unit;
    std::vector<Index> switches;
    Matrix q, r;                 // normals N = QR (thin)
    Vector row, coefficients;    // workspace: the unit's row of the field, Qᵀ·row
  };

  template <class V>
  auto block(V& v, const Model& model, int i) const {
    using M = std::conditional_t<std::is_const_v<V>, const Matrix, Matrix>;
    return Eigen::Map<M>(v.data() + offset_[i], model.width(i), samples_);
  }
  template <class P>
  static auto bias(const Model& model, int i, P& p) {
    using M = std::conditional_t<std::is_const_v<P>, const Vector, Vector>;
    return Eigen::Map<M>(p.data() + model.bias_offset(i), model.width(i));
  }

  void forward(const O& objective, const Params& theta, bool choose_sides) {
    const Model& model = objective.model();
    for (int i = 1; i <= depth; ++i) {
      Eigen::Map<Matrix> z = i < depth ? block(z_, model, i) : Eigen::Map<Matrix>(output_.data(), output_.rows(), output_.cols());
      if (i == 1) z.noalias() = model.weight_at(1, theta) * objective.inputs();
      else z.noalias() = model.weight_at(i, theta) * post_[i - 1];
      if constexpr (Model::has_bias) z.colwise() += bias(model, i, theta);
      if (i == depth) break;
      auto c = block(slope_, model, i);
      if (choose_sides) {
        const auto negative = (z.array() < Scalar(0)).template cast<Scalar>();
        block(side_, model, i).array() = Scalar(1) - Scalar(2) * negative;
        c.array() = above_ + (below_ - above_) * negative;
      }
      post_[i].array() = z.array() * c.array();
    }
  }

  /// field ← Π field on every sliding unit's row of (W_1 | b_1), and λ = (NᵀN)⁻¹Nᵀ(−field)/m.
  void project(const Model& model, Params& field) {
    const Index hidden = model.width(1), inputs = model.width(0);
    const Index w1 = model.weight_offset(1);
    for (SlidingUnit& u : units_) {
      for (Index m = 0; m < inputs; ++m) u.row[m] = field[w1 + m * hidden + u.unit];
      if constexpr (Model::has_bias) u.row[inputs] = field[model.bias_offset(1) + u.unit];
      u.coefficients.noalias() = u.q.transpose() * u.row;
      u.row.noalias() -= u.q * u.coefficients;
      for (Index m = 0; m < inputs; ++m) field[w1 + m * hidden + u.unit] = u.row[m];
      if constexpr (Model::has_bias) field[model.bias_offset(1) + u.unit] = u.row[inputs];
      u.r.template triangularView<Eigen::Upper>().solveInPlace(u.coefficients);  // λ⊙m = −coefficients
      for (std::size_t t = 0; t < u.switches.size(); ++t) {
        const Index i = u.switches[t];
        const Index sample = (i - offset_[1]) / hidden;
        const Scalar m = (above_ - below_) * back_[1](u.unit, sample);
        lambda_[i] = -u.coefficients[static_cast<Index>(t)] / m;
      }
    }
  }

  Index samples_;
  std::array<Index, depth + 1> offset_{};
  std::array<Matrix, depth + 1> post_, back_, post_rate_, g_;
  Matrix output_;
  Scalar below_{0}, above_{1};
  Vector z_, rate_, side_, slope_, lambda_, allowance_;
  std::vector<SlidingUnit> units_;
};

}  // namespace symflow
