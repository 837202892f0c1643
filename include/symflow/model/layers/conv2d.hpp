// SPDX-License-Identifier: MIT
#pragma once
/// \file Two-dimensional convolution (cross-correlation, as PyTorch's nn.Conv2d): channels in →
/// `Out` channels out, square kernel K×K, stride, zero padding:
///
///   y[o, r, c] = b[o] + Σ_{i, u, v} w[o, i, u, v] · x[i, r·stride + u − pad, c·stride + v − pad],
///
/// with x = 0 outside the image. Output size H' = (H + 2·pad − K)/stride + 1 (floor), likewise W'.
/// θ holds w in PyTorch's order (out, in, kh, kw), row-major — a trained Conv2d.weight maps one to
/// one — then b (out). Samples are columns in the order of symflow/model/layers/shape.hpp.
///
/// Each sample runs as one matrix product: the patches of x are gathered into a (in·K·K) × (H'·W')
/// matrix P (im2col), then y = w P with w viewed as out × (in·K·K), row-major.

#include <string>
#include <type_traits>

#include "symflow/core/config.hpp"
#include "symflow/model/layers/dense.hpp"
#include "symflow/model/layers/shape.hpp"

namespace symflow {

/// Conv2d<out channels, kernel, stride, padding, NoBias|WithBias>. Any of the four numbers may be
/// Dynamic and is then given at run time, in the same order:
/// Conv2d<Dynamic, 3>{channels}, Conv2d<Dynamic, Dynamic, Dynamic, Dynamic>{channels, kernel, stride, padding}.
/// Input channels come from the input shape.
template <int Out, int Kernel, int Stride = 1, int Pad = 0, class BiasTag = WithBias>
struct Conv2d {
  static_assert(Out > 0 || Out == Dynamic, "symflow::Conv2d: the number of output channels must be positive or Dynamic");
  static_assert((Kernel > 0 || Kernel == Dynamic) && (Stride > 0 || Stride == Dynamic) && (Pad >= 0 || Pad == Dynamic),
                "symflow::Conv2d: the kernel and the stride must be positive, the padding non-negative (or Dynamic)");
  static_assert(std::is_same_v<BiasTag, NoBias> || std::is_same_v<BiasTag, WithBias>,
                "symflow::Conv2d: the last parameter is symflow::NoBias or symflow::WithBias");
  static constexpr bool has_bias = std::is_same_v<BiasTag, WithBias>;
  /// Output channels, kernel size, stride and zero padding (each must equal its template argument
  /// when that is fixed).
  Index channels = Out == Dynamic ? 0 : Out;
  Index kernel = Kernel == Dynamic ? 0 : Kernel;
  Index stride = Stride == Dynamic ? 0 : Stride;
  Index padding = Pad == Dynamic ? 0 : Pad;

  static constexpr int out_extent(int in) {
    return in == Dynamic || Kernel == Dynamic || Stride == Dynamic || Pad == Dynamic ? Dynamic
                                                                                     : (in + 2 * Pad - Kernel) / Stride + 1;
  }

  template <class S, int C, int H, int W>
  class Bound {
   public:
    using Scalar = S;
    using Spec = Conv2d;
    static constexpr bool parameterised = true;
    static constexpr bool is_conv2d = true;
    static constexpr bool has_bias = Conv2d::has_bias;
    static constexpr int in_width = mul_sizes(mul_sizes(C, H), W);
    static constexpr int out_c = Out, out_h = out_extent(H), out_w = out_extent(W);
    static constexpr int out_width = mul_sizes(mul_sizes(out_c, out_h), out_w);
    static constexpr int patch = mul_sizes(C, mul_sizes(Kernel, Kernel));
    static constexpr int num_params = add_sizes(mul_sizes(Out, patch), has_bias ? Out : 0);
    /// w viewed as out × (in·K·K), row-major: row o is w[o, :, :, :] in PyTorch's order.
    using Weight = Eigen::Matrix<S, Out, patch, (patch == 1 ? Eigen::ColMajor : Eigen::RowMajor)>;
    using Bias = Eigen::Matrix<S, Out, 1>;
    template <int K> using In = detail::FeatureMatrix<S, in_width, K>;
    template <int K> struct Cache {};

    Bound(const Conv2d& spec, Shape in) : spec_(spec), in_(in) {
      detail::require_extent("Conv2d", "the number of output channels", Out, spec.channels);
      detail::require_extent("Conv2d", "the kernel size", Kernel, spec.kernel);
      detail::require_extent("Conv2d", "the stride", Stride, spec.stride);
      if (Pad != Dynamic && spec.padding != Pad)
        throw std::invalid_argument("symflow::Conv2d: the padding is " + std::to_string(spec.padding) +
                                    ", but the model type fixes it to " + std::to_string(Pad));
      if (spec.padding < 0)
        throw std::invalid_argument("symflow::Conv2d: the padding is " + std::to_string(spec.padding) +
                                    ", expected a non-negative number");
      detail::require_extent("Conv2d", "the input channels", C, in.channels);
      detail::require_extent("Conv2d", "the input height", H, in.height);
      detail::require_extent("Conv2d", "the input width", W, in.width);
      const Index k = kernel(), s = stride(), pad = padding();
      if (in.height + 2 * pad < k || in.width + 2 * pad < k)
        throw std::invalid_argument("symflow::Conv2d: a " + std::to_string(k) + "x" + std::to_string(k) +
                                    " kernel does not fit the padded input of shape " + in.str());
      out_ = {spec.channels, (in.height + 2 * pad - k) / s + 1, (in.width + 2 * pad - k) / s + 1};
    }
    const Conv2d& spec() const { return spec_; }
    Shape in_shape() const { return in_; }
    Shape out_shape() const { return out_; }
    /// Kernel size, stride and padding (compile-time constants when the type fixes them).
    Index kernel() const { if constexpr (Kernel != Dynamic) return Kernel; else return spec_.kernel; }
    Index stride() const { if constexpr (Stride != Dynamic) return Stride; else return spec_.stride; }
    Index padding() const { if constexpr (Pad != Dynamic) return Pad; else return spec_.padding; }
    Index patch_size() const { return in_.channels * kernel() * kernel(); }
    Index size() const { return spec_.channels * patch_size() + (has_bias ? spec_.channels : 0); }
    /// Units are channels: out_units() made here, in_units() read (input channel i owns the
    /// columns i·K·K, …, (i+1)·K·K − 1 of the weight view).
    Index out_units() const { return spec_.channels; }
    Index in_units() const { return in_.channels; }
    Index positions() const { return kernel() * kernel(); }

    Eigen::Map<const Weight> weight(const S* theta) const { return {theta, spec_.channels, patch_size()}; }
    Eigen::Map<Weight> weight(S* theta) const { return {theta, spec_.channels, patch_size()}; }
    Eigen::Map<const Bias> bias(const S* theta) const { return {theta + spec_.channels * patch_size(), spec_.channels}; }
    Eigen::Map<Bias> bias(S* theta) const { return {theta + spec_.channels * patch_size(), spec_.channels}; }

    template <int K, class Y>
    void forward(const S* theta, const In<K>& x, Y& y, Cache<K>&) const {
      const Index hw = out_.height * out_.width;
      y.resize(out_.size(), x.cols());
      Eigen::Matrix<S, Dynamic, Dynamic> p(patch_size(), hw);
      const auto w = weight(theta);
      for (Index j = 0; j < x.cols(); ++j) {
        gather(x.col(j), p);
        Eigen::Map<Eigen::Matrix<S, Dynamic, Dynamic, Eigen::RowMajor>> yj(y.col(j).data(), out_.channels, hw);
        detail::multiply(yj, w, p);
        if constexpr (has_bias) yj.colwise() += bias(theta);
      }
    }
    /// gx as in Dense::backward: std::nullptr_t leaves the input-gradient product out of the program.
    template <int K, class Y, class GY, class GX>
    void backward(const S* theta, const In<K>& x, const Y&, const Cache<K>&, const GY& gy, S* grad, GX gx) const {
      constexpr bool may_want_gx = !std::is_null_pointer_v<GX>;
      const Index hw = out_.height * out_.width;
      Eigen::Matrix<S, Dynamic, Dynamic> p(patch_size(), hw), gp, gwj(spec_.channels, patch_size());
      auto gw = weight(grad);
      gw.setZero();
      if constexpr (has_bias) bias(grad).setZero();
      if constexpr (may_want_gx) {
        if (gx) {
          gx->setZero(x.rows(), x.cols());
          gp.resize(patch_size(), hw);
        }
      }
      const auto w = weight(theta);
      for (Index j = 0; j < x.cols(); ++j) {
        Eigen::Map<const Eigen::Matrix<S, Dynamic, Dynamic, Eigen::RowMajor>> gj(gy.col(j).data(), out_.channels, hw);
        gather(x.col(j), p);
        detail::multiply_transposed(gwj, gj, p);
        gw += gwj;
        if constexpr (has_bias) bias(grad) += gj.rowwise().sum();
        if constexpr (may_want_gx) {
          if (gx) {
            detail::multiply(gp, w.transpose(), gj);
            scatter(gp, gx->col(j));
          }
        }
      }
    }

   private:
    // P[(i·K + u)·K + v, r·W' + c] = x[i, r·stride + u − pad, c·stride + v − pad] (0 outside).
    template <class X>
    void gather(const X& x, Eigen::Matrix<S, Dynamic, Dynamic>& p) const {
      for_each_tap([&](Index row, Index col, Index at) { p(row, col) = at < 0 ? S(0) : x(at); });
    }
    // The adjoint of gather: x[…] += P[row, col] for every tap that reads x.
    template <class X>
    void scatter(const Eigen::Matrix<S, Dynamic, Dynamic>& p, X&& x) const {
      for_each_tap([&](Index row, Index col, Index at) { if (at >= 0) x(at) += p(row, col); });
    }
    template <class F>
    void for_each_tap(F&& f) const {
      const Index k = kernel(), s = stride(), pad = padding();
      for (Index i = 0; i < in_.channels; ++i)
        for (Index u = 0; u < k; ++u)
          for (Index v = 0; v < k; ++v) {
            const Index row = (i * k + u) * k + v;
            for (Index r = 0; r < out_.height; ++r) {
              const Index y = r * s + u - pad;
              const bool y_inside = y >= 0 && y < in_.height;
              for (Index c = 0; c < out_.width; ++c) {
                const Index xx = c * s + v - pad;
                const bool inside = y_inside && xx >= 0 && xx < in_.width;
                f(row, r * out_.width + c, inside ? (i * in_.height + y) * in_.width + xx : Index(-1));
              }
            }
          }
    }

    Conv2d spec_;
    Shape in_;
    Shape out_;
  };
  static std::string name() { return "conv2d"; }
};

}  // namespace symflow
