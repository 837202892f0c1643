// SPDX-License-Identifier: MIT
#pragma once
/// \file The distribution of conserved quantities at random initialisation (Appendix E): sample
/// moments by Monte Carlo for any model and quantity, and closed forms for i.i.d. Gaussian layers.
///
/// Closed forms. For x ~ N(0, s²): E[x²/2] = s²/2, Var[x²/2] = s⁴/2. The potential Φ_σ of eq. (48)
/// at v ~ N(0, s²) has
///   identity, LeakyReLU   E = s²/2            Var = s⁴/2
///   ReLU                  E = s²/4            Var = 5s⁴/16
///   Homogeneous{α}        E = s²/(4α)         Var = 5s⁴/(16α²)
///   tanh                  E = (e^{2s²} − 1)/4 Var = (e^{4s²} − 1)²/32   (Φ = (cosh 2v − 1)/4)
///   sigmoid               E = e^{s²/2} − 1    Var = s² + e^{2s²} − e^{s²} + 2s² e^{s²/2}
///                                             (Φ = v + eᵛ − 1; Cov(v, eᵛ) = s² e^{s²/2} by Stein)
/// and sums of independent entries add means and variances. For the two-layer quantity
/// Q = ½Tr[UᵀU − VVᵀ] of eq. (45), U ∈ R^{m×h} with variance t², V ∈ R^{h×n} with variance s²:
///   E[Q] = ½(mh t² − hn s²),  Var[Q] = ½(mh t⁴ + hn s⁴);
/// under eq. (46) (t² = 1/h, s² = 1/n) E[Q] = (m − h)/2, not m − h as eq. (47) prints.

#include <array>
#include <cmath>
#include <concepts>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/core/moments.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/init/schemes.hpp"
#include "symflow/model/activations.hpp"

namespace symflow {

/// Moments estimated from samples, with the standard errors of both estimates.
struct SampleMoments {
  Index samples = 0;
  double mean = 0.0;
  /// Unbiased sample variance.
  double variance = 0.0;
  /// √(variance / samples): the standard error of the mean.
  double mean_error = 0.0;
  /// √((μ₄ − (N−3)/(N−1) σ⁴)/N) with the sample fourth central moment μ₄: the standard error of
  /// the variance (no normality assumed).
  double variance_error = 0.0;
};

/// Moments of f(θ) over θ ~ `draw(rng)`, from `samples` independent draws (two-pass, so that the
/// moments do not lose digits to a large mean). `f` returns anything convertible to double.
template <class Draw, class F, class Rng>
SampleMoments monte_carlo_moments(const Draw& draw, const F& f, Index samples, Rng& rng) {
  if (samples < 4)
    throw std::invalid_argument("symflow::monte_carlo_moments: needs at least 4 samples, got " + std::to_string(samples));
  Eigen::VectorXd values(samples);
  for (Index i = 0; i < samples; ++i) values[i] = static_cast<double>(f(draw(rng)));
  const double n = static_cast<double>(samples);
  SampleMoments m;
  m.samples = samples;
  m.mean = values.mean();
  const Eigen::ArrayXd centred = values.array() - m.mean;
  const double m2 = centred.square().sum() / n;
  const double m4 = centred.square().square().sum() / n;
  m.variance = m2 * n / (n - 1.0);
  m.mean_error = std::sqrt(m.variance / n);
  m.variance_error = std::sqrt(std::max(0.0, (m4 - (n - 3.0) / (n - 1.0) * m.variance * m.variance) / n));
  return m;
}

/// Moments of f(θ) for θ drawn from `scheme` on `model` (symflow::initialize).
template <class Model, InitScheme Scheme, class F, class Rng>
SampleMoments monte_carlo_moments(const Model& model, const Scheme& scheme, const F& f, Index samples, Rng& rng) {
  return monte_carlo_moments([&](Rng& r) { return initialize(model, scheme, r); }, f, samples, rng);
}

/// Whether activation A states the moments of its potential Φ_σ(v) for v ~ N(0, s²) (a member
/// gaussian_potential_moments(s²), as every symflow activation with a closed-form Φ has).
template <class A>
inline constexpr bool has_gaussian_potential_moments = requires(const A& a, double s2) {
  { a.gaussian_potential_moments(s2) } -> std::convertible_to<Moments>;
};

/// Moments of the potential Φ_σ(v) of eq. (48) for v ~ N(0, variance), in closed form, as the
/// activation states them (see the file comment for symflow's).
template <class A>
Moments gaussian_potential_moments(const A& act, double variance) {
  static_assert(has_gaussian_potential_moments<A>,
                "symflow::gaussian_potential_moments: the activation states no closed form (a member "
                "Moments gaussian_potential_moments(double variance) const); use symflow::monte_carlo_moments");
  return act.gaussian_potential_moments(variance);
}

/// Moments of the total of eq. (48), Q = ½‖U‖² − Σ Φ_σ(V_kj), for U ∈ R^{m×h} with i.i.d.
/// N(0, var_u) entries and V ∈ R^{h×n} with i.i.d. N(0, var_v) entries. With σ = identity this is
/// eq. (45).
template <class A>
Moments elementwise_quantity_moments(const A& act, Index m, Index h, Index n, double var_u, double var_v) {
  const Moments phi = gaussian_potential_moments(act, var_v);
  const double mh = static_cast<double>(m * h);
  const double hn = static_cast<double>(h * n);
  return {mh * var_u / 2 - hn * phi.mean, mh * var_u * var_u / 2 + hn * phi.variance};
}

/// Moments of one unit's Q_k of eq. (48) (m outgoing and n incoming weights).
template <class A>
Moments elementwise_unit_moments(const A& act, Index m, Index n, double var_u, double var_v) {
  return elementwise_quantity_moments(act, m, 1, n, var_u, var_v);
}

namespace detail {
/// (n_in, h, n_out) of junction I: the incoming layer's inputs, its units, the outgoing layer's units.
template <int I, class Model>
std::array<Index, 3> junction_widths(const Model& model) {
  if constexpr (requires { model.chain(); } || requires { model.network(); }) {
    return {model.template layer<I>().in_shape().size(), model.template layer<I>().out_units(),
            model.template layer<I + 2>().out_units()};
  } else {
    return {model.width(I - 1), model.width(I), model.width(I + 1)};
  }
}
}  // namespace detail

/// Moments of eq. (48) (total) for a two-layer MLP initialised by `scheme`: U = W_2, V = W_1. A
/// Sequential qualifies when it is such a block, Dense, activation, Dense (junction 1 and no other).
template <class Model, InitScheme Scheme>
Moments elementwise_quantity_moments(const Model& model, const Scheme& scheme) {
  static_assert(Model::depth >= 2, "symflow::elementwise_quantity_moments: the model needs a hidden layer");
  if constexpr (requires { model.chain(); }) {
    static_assert(Model::num_layers == 3 && is_junction<Model, 1>,
                  "symflow::elementwise_quantity_moments(net, scheme): eq. (48) is the quantity of a two-layer block "
                  "U σ(V X); this Sequential is not Dense, activation, Dense. For junction I of a deeper network, "
                  "pass its sizes and variances: elementwise_quantity_moments(activation, m, h, n, var_u, var_v)");
    if constexpr (Model::num_layers == 3 && is_junction<Model, 1>) {
      const auto [n, h, m] = detail::junction_widths<1>(model);
      return elementwise_quantity_moments(junction<Model, 1>::activation(model), m, h, n, scheme.weight_variance(h, m),
                                          scheme.weight_variance(n, h));
    } else {
      return {};
    }
  } else {
    const Index n = model.width(0), h = model.width(1), m = model.width(2);
    return elementwise_quantity_moments(model.activation(), m, h, n, scheme.weight_variance(h, m),
                                        scheme.weight_variance(n, h));
  }
}

/// Moments of the layer imbalance of a linear hidden layer i, Q_i = W_i W_iᵀ + b_i b_iᵀ − W_{i+1}ᵀW_{i+1}
/// (LayerImbalance), with W_i ∈ R^{h×n_in} of variance var_in, b_i of variance var_bias and
/// W_{i+1} ∈ R^{n_out×h} of variance var_out.
struct LayerImbalanceMoments {
  /// Each diagonal entry Q_kk.
  Moments diagonal;
  /// Each off-diagonal entry Q_kl, k ≠ l (mean 0).
  Moments off_diagonal;
  /// Tr Q_i (LayerImbalanceTrace).
  Moments trace;
};

inline LayerImbalanceMoments layer_imbalance_moments(Index n_in, Index h, Index n_out, double var_in,
                                                     double var_out, double var_bias = 0.0) {
  const double a = static_cast<double>(n_in), b = static_cast<double>(n_out), hh = static_cast<double>(h);
  LayerImbalanceMoments out;
  // Q_kk = Σ_j W_kj² + b_k² − Σ_s U_sk²; entries independent, Var x² = 2 s⁴.
  out.diagonal = {a * var_in + var_bias - b * var_out,
                  2 * a * var_in * var_in + 2 * var_bias * var_bias + 2 * b * var_out * var_out};
  // Q_kl = Σ_j W_kj W_lj + b_k b_l − Σ_s U_sk U_sl; each product has variance s⁴.
  out.off_diagonal = {0.0, a * var_in * var_in + var_bias * var_bias + b * var_out * var_out};
  out.trace = {hh * out.diagonal.mean, hh * out.diagonal.variance};
  return out;
}

/// Moments of the layer imbalance of hidden layer `layer` of an MLP initialised by `scheme`; on a
/// Sequential (or a residual block's layers), of its dense junction `layer` (Dense layer I, an
/// activation, Dense layer I + 2; symflow::initialize draws both layers from `scheme`).
template <class Model, InitScheme Scheme>
LayerImbalanceMoments layer_imbalance_moments(const Model& model, const Scheme& scheme, int layer) {
  std::array<Index, 3> widths{};
  bool has_bias = false, found = false;
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((layer == I ? (widths = detail::junction_widths<I>(model), has_bias = junction<Model, I>::has_bias, found = true)
                 : false),
     ...);
  }(junction_indices<Model>{});
  if (!found)
    throw std::out_of_range("symflow::layer_imbalance_moments: layer " + std::to_string(layer) +
                            " is not a hidden layer (a junction) of the model; its junctions are " +
                            detail::junction_list(junction_indices<Model>{}));
  const auto [n_in, h, n_out] = widths;
  const double var_bias = has_bias ? scheme.bias_variance(h) : 0.0;
  return layer_imbalance_moments(n_in, h, n_out, scheme.weight_variance(n_in, h), scheme.weight_variance(h, n_out),
                                 var_bias);
}

}  // namespace symflow
