// SPDX-License-Identifier: MIT
#pragma once
/// \file Normalisation layers without an affine part (PyTorch's elementwise_affine=False /
/// affine=False), on samples of shape C×H×W (a vector is C×1×1):
///
///  - LayerNorm: each sample is standardised over all its C·H·W entries,
///      y = (z − μ) / √(v + ε),  μ, v the mean and (biased) variance of the sample's entries;
///  - BatchNorm: each channel is standardised over the batch and the H·W positions (PyTorch's
///    BatchNorm1d on vectors, BatchNorm2d on images, in training mode: batch statistics, biased
///    variance; no running averages).
///
/// ε > 0 keeps the division finite; ε = 0 (allowed, and the default) makes the layer exactly
/// invariant under z ↦ c z, c > 0, which is what its scale symmetry needs. With ε = 0 a group of
/// entries with zero variance cannot be standardised: forward throws std::domain_error naming it.
///
/// Back-propagation (both layers, over the n entries of one group, s = 1/√(v + ε)):
///   ∂L/∂z = s (g − mean(g) − y ⊙ mean(g ⊙ y)),  g = ∂L/∂y,
/// exact for every ε (ε enters only through s).

#include <string>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

namespace detail {

/// Standardises the entries z (any Eigen block) in place of y; returns s = 1/√(v + ε).
template <class Z, class Y>
typename Z::Scalar standardise(const Z& z, Y&& y, double epsilon, const char* layer, Index group) {
  using S = typename Z::Scalar;
  using std::sqrt;
  const S n = S(static_cast<double>(z.size()));
  const S mean = z.sum() / n;
  y = (z.array() - mean).matrix();
  const S variance = y.squaredNorm() / n + S(epsilon);
  if (!(variance > S(0)))
    throw std::domain_error(std::string("symflow::") + layer + ": group " + std::to_string(group) +
                            " has zero variance and epsilon = 0; it cannot be standardised");
  const S s = S(1) / sqrt(variance);
  y *= s;
  return s;
}

/// gz = s (g − mean(g) − y ⊙ mean(g ⊙ y)) over one group of entries.
template <class G, class Y, class GZ>
void standardise_pullback(const G& g, const Y& y, typename G::Scalar s, GZ&& gz) {
  using S = typename G::Scalar;
  const S n = S(static_cast<double>(g.size()));
  const S mean_g = g.sum() / n;
  const S mean_gy = g.cwiseProduct(y).sum() / n;
  gz = s * ((g.array() - mean_g) - mean_gy * y.array()).matrix();
}

}  // namespace detail

/// Layer normalisation without affine part: each sample standardised over its C·H·W entries.
struct LayerNorm {
  /// ε ≥ 0 added to the variance (PyTorch's default is 1e-5; 0 makes the scale symmetry exact).
  double epsilon = 0.0;

  template <class S, int C, int H, int W>
  class Bound;
  static std::string name() { return "layer_norm"; }
};

template <class S, int C, int H, int W>
class LayerNorm::Bound {
 public:
  using Scalar = S;
  using Spec = LayerNorm;
  static constexpr bool parameterised = false;
  static constexpr bool is_normalization = true;
  /// Which parameters of the layer before are scale-invariant: all of them together.
  static constexpr bool per_channel = false;
  static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
  static constexpr int out_c = C, out_h = H, out_w = W;
  static constexpr int out_width = in_width;
  static constexpr int num_params = 0;
  template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
  /// s_j = 1/√(v_j + ε) per sample.
  template <int K> struct Cache { Eigen::Matrix<S, 1, K> inverse_std; };

  Bound(const LayerNorm& spec, Shape in) : spec_(spec), in_(in) {
    if (!(spec.epsilon >= 0.0))
      throw std::invalid_argument("symflow::LayerNorm: epsilon is " + std::to_string(spec.epsilon) + ", expected >= 0");
  }
  const LayerNorm& spec() const { return spec_; }
  Shape in_shape() const { return in_; }
  Shape out_shape() const { return in_; }
  Index size() const { return 0; }
  double epsilon() const { return spec_.epsilon; }

  template <int K, class Y>
  void forward(const S*, const In<K>& x, Y& y, Cache<K>& c) const {
    y.resize(x.rows(), x.cols());
    c.inverse_std.resize(1, x.cols());
    for (Index j = 0; j < x.cols(); ++j)
      c.inverse_std(j) = detail::standardise(x.col(j), y.col(j), spec_.epsilon, "LayerNorm", j);
  }
  template <int K, class Y, class GY>
  void backward(const S*, const In<K>&, const Y& y, const Cache<K>& c, const GY& gy, S*, In<K>* gx) const {
    if (!gx) return;
    gx->resize(gy.rows(), gy.cols());
    for (Index j = 0; j < gy.cols(); ++j)
      detail::standardise_pullback(gy.col(j), y.col(j), c.inverse_std(j), gx->col(j));
  }

 private:
  LayerNorm spec_;
  Shape in_;
};

/// Batch normalisation without affine part: each channel standardised over the batch (and the
/// H·W positions of an image), with batch statistics.
struct BatchNorm {
  /// ε ≥ 0 added to the variance (PyTorch's default is 1e-5; 0 makes the scale symmetry exact).
  double epsilon = 0.0;

  template <class S, int C, int H, int W>
  class Bound;
  static std::string name() { return "batch_norm"; }
};

template <class S, int C, int H, int W>
class BatchNorm::Bound {
 public:
  using Scalar = S;
  using Spec = BatchNorm;
  static constexpr bool parameterised = false;
  static constexpr bool is_normalization = true;
  /// Which parameters of the layer before are scale-invariant: those of each channel apart.
  static constexpr bool per_channel = true;
  static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
  static constexpr int out_c = C, out_h = H, out_w = W;
  static constexpr int out_width = in_width;
  static constexpr int num_params = 0;
  template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
  /// s_c = 1/√(v_c + ε) per channel.
  template <int K> struct Cache { Eigen::Matrix<S, C, 1> inverse_std; };

  Bound(const BatchNorm& spec, Shape in) : spec_(spec), in_(in) {
    if (!(spec.epsilon >= 0.0))
      throw std::invalid_argument("symflow::BatchNorm: epsilon is " + std::to_string(spec.epsilon) + ", expected >= 0");
  }
  const BatchNorm& spec() const { return spec_; }
  Shape in_shape() const { return in_; }
  Shape out_shape() const { return in_; }
  Index size() const { return 0; }
  double epsilon() const { return spec_.epsilon; }

  // Channel c of the batch is the block of rows c·P, …, (c+1)·P − 1 (P = H·W positions), all columns.
  template <int K, class Y>
  void forward(const S*, const In<K>& x, Y& y, Cache<K>& c) const {
    const Index p = in_.height * in_.width;
    y.resize(x.rows(), x.cols());
    c.inverse_std.resize(in_.channels);
    for (Index ch = 0; ch < in_.channels; ++ch)
      c.inverse_std(ch) = detail::standardise(x.middleRows(ch * p, p), y.middleRows(ch * p, p), spec_.epsilon,
                                              "BatchNorm", ch);
  }
  template <int K, class Y, class GY>
  void backward(const S*, const In<K>&, const Y& y, const Cache<K>& c, const GY& gy, S*, In<K>* gx) const {
    if (!gx) return;
    const Index p = in_.height * in_.width;
    gx->resize(gy.rows(), gy.cols());
    for (Index ch = 0; ch < in_.channels; ++ch)
      detail::standardise_pullback(gy.middleRows(ch * p, p), y.middleRows(ch * p, p), c.inverse_std(ch),
                                   gx->middleRows(ch * p, p));
  }

 private:
  BatchNorm spec_;
  Shape in_;
};

}  // namespace symflow
