// SPDX-License-Identifier: MIT
#pragma once
/// \file Random initialisation schemes for MLP weights: i.i.d. Gaussian entries whose variance
/// depends on the layer's fan-in n_{i−1} and fan-out n_i.
///
///   Gaussian{s}    Var W_i = s²                       (every layer; biases too)
///   XavierNormal   Var W_i = 1/n_{i−1}                (eq. 46 as the paper writes it; this is
///                                                      LeCun's normal initialisation)
///   GlorotNormal   Var W_i = 2/(n_{i−1} + n_i)        (Glorot & Bengio 2010; PyTorch's
///                                                      xavier_normal_)
///   HeNormal       Var W_i = 2/n_{i−1}                (He et al. 2015, for ReLU)
/// The fan-based schemes set biases to zero. Draws are made in double and cast to the model's
/// scalar, in the order of θ, from the generator the caller passes, by the ziggurat sampler
/// symflow::NormalDistribution (twice as fast as std::normal_distribution: sweeps of Q statistics
/// spend most of their time drawing weights).

#include <cmath>
#include <concepts>
#include <random>
#include <string>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/core/normal_distribution.hpp"

namespace symflow {

/// Every weight and bias N(0, stddev²).
struct Gaussian {
  double stddev = 1.0;
  double weight_variance(Index /*fan_in*/, Index /*fan_out*/) const { return stddev * stddev; }
  double bias_variance(Index /*fan_out*/) const { return stddev * stddev; }
  static std::string name() { return "gaussian"; }
};

/// W_i ~ N(0, 1/n_{i−1}), the paper's "Xavier" initialisation of eq. (46); biases zero.
struct XavierNormal {
  double weight_variance(Index fan_in, Index /*fan_out*/) const { return 1.0 / static_cast<double>(fan_in); }
  double bias_variance(Index /*fan_out*/) const { return 0.0; }
  static std::string name() { return "xavier_normal_eq46"; }
};

/// W_i ~ N(0, 2/(n_{i−1} + n_i)), Glorot and Bengio's normal initialisation; biases zero.
struct GlorotNormal {
  double weight_variance(Index fan_in, Index fan_out) const {
    return 2.0 / static_cast<double>(fan_in + fan_out);
  }
  double bias_variance(Index /*fan_out*/) const { return 0.0; }
  static std::string name() { return "glorot_normal"; }
};

/// W_i ~ N(0, 2/n_{i−1}), He et al.'s initialisation for ReLU networks; biases zero.
struct HeNormal {
  double weight_variance(Index fan_in, Index /*fan_out*/) const { return 2.0 / static_cast<double>(fan_in); }
  double bias_variance(Index /*fan_out*/) const { return 0.0; }
  static std::string name() { return "he_normal"; }
};

/// A scheme gives the variance of layer i's weights from its fan-in and fan-out, and of its biases.
template <class S>
concept InitScheme = requires(const S& s, Index fan_in, Index fan_out) {
  { s.weight_variance(fan_in, fan_out) } -> std::convertible_to<double>;
  { s.bias_variance(fan_out) } -> std::convertible_to<double>;
};

namespace detail {

template <class Chain, class S, class Scheme, class Rng>
void initialize_layers(const Chain& chain, S* theta, const Scheme& scheme, Rng& rng, const NormalDistribution& normal);

/// One layer of a Sequential: a Dense or Conv2d layer's weights (fan-in = entries of a weight row:
/// inputs, or in_channels·K·K; fan-out = units, or out_channels·K·K as PyTorch counts it), then its
/// bias, each in θ's order; a Residual block's layers in turn; nothing for the others.
template <class L, class S, class Scheme, class Rng>
void initialize_layer(const L& l, S* theta, const Scheme& scheme, Rng& rng, const NormalDistribution& normal) {
  if constexpr (requires { requires L::is_residual; }) {
    initialize_layers(l.inner(), theta, scheme, rng, normal);
  } else if constexpr (L::parameterised) {
    auto w = l.weight(theta);
    const Index fan_out = requires { requires L::is_dense; } ? w.rows() : w.rows() * l.positions();
    const double sw = std::sqrt(scheme.weight_variance(w.cols(), fan_out));
    S* entry = w.data();
    for (Index k = 0; k < w.size(); ++k) entry[k] = static_cast<S>(sw * normal(rng));
    if constexpr (L::has_bias) {
      auto b = l.bias(theta);
      const double sb = std::sqrt(scheme.bias_variance(fan_out));
      for (Index k = 0; k < b.size(); ++k) b[k] = static_cast<S>(sb * normal(rng));
    }
  }
}

template <class Chain, class S, class Scheme, class Rng>
void initialize_layers(const Chain& chain, S* theta, const Scheme& scheme, Rng& rng, const NormalDistribution& normal) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (initialize_layer(chain.template layer<I + 1>(), theta + chain.offset(I + 1), scheme, rng, normal), ...);
  }(std::make_integer_sequence<int, Chain::num_layers>{});
}

}  // namespace detail

/// Parameters of an MLP drawn from `scheme`: W_i with i.i.d. N(0, Var_i) entries, layer by layer.
/// A symflow::Sequential is drawn the same way, layer after layer in θ's order (inside Residual
/// blocks too); one laid out as a BiasedMlp's gets the BiasedMlp's θ from the same generator.
template <class Model, InitScheme Scheme, class Rng>
typename Model::Params initialize(const Model& model, const Scheme& scheme, Rng& rng) {
  using Scalar = typename Model::Scalar;
  typename Model::Params p = model.zero_params();
  const NormalDistribution normal;
  if constexpr (requires { model.chain(); }) {
    detail::initialize_layers(model.chain(), p.data(), scheme, rng, normal);
  } else {
    for (int i = 1; i <= Model::depth; ++i) {
      const double sw = std::sqrt(scheme.weight_variance(model.width(i - 1), model.width(i)));
      auto w = model.weight_at(i, p);
      for (Index c = 0; c < w.cols(); ++c)
        for (Index r = 0; r < w.rows(); ++r) w(r, c) = static_cast<Scalar>(sw * normal(rng));
      if constexpr (Model::has_bias) {
        const double sb = std::sqrt(scheme.bias_variance(model.width(i)));
        for (Index k = 0; k < model.width(i); ++k) p[model.bias_offset(i) + k] = static_cast<Scalar>(sb * normal(rng));
      }
    }
  }
  return p;
}

}  // namespace symflow
