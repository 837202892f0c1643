// SPDX-License-Identifier: MIT
#pragma once
// The random tensors of the paper's reference code, drawn the way PyTorch's CPU generator draws
// them, so that the figure programs' --published runs start from the same numbers.
//
// The reference code writes `torch.manual_seed(12345); U = torch.rand(m, k).normal_(0, s)`. On the
// CPU, PyTorch's generator is the 32-bit Mersenne Twister (the same sequence as std::mt19937 with
// that seed). rand() takes one 32-bit word per entry, u = (word & (2²⁴ − 1)) / 2²⁴. normal_() of a
// contiguous float tensor with at least 16 entries then draws one fresh u per entry (overwriting
// the rand() values) and turns each block of 16 into normals by Box–Muller (u₁ = 1 − u_j,
// u₂ = u_{j+8}: r cos, r sin); when 16 does not divide the size it draws 16 more u and redoes
// the last 16 entries with them. So a tensor of N entries consumes 2N (+ 16) words.
//
// The consequence the figures inherit: the code reseeds before U and again before V, and the 16
// extra words that finish the smaller tensor are the first 16 that start the larger one, so the
// last 16 entries of the smaller tensor equal the first 16 of the larger one.
//
// PyTorch evaluates log, cos and sin in float, vectorised (SLEEF, 1 ulp) where AVX2 is available;
// here they are std:: functions in float, so entries may differ from PyTorch's in the last bit.

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

namespace symflow::examples {

using TorchMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// PyTorch's CPU generator after torch.manual_seed(seed).
class TorchGenerator {
 public:
  explicit TorchGenerator(std::uint64_t seed) : engine_(static_cast<std::mt19937::result_type>(seed)) {}

  /// torch.rand's float in [0, 1): the low 24 bits of one 32-bit word.
  float uniform() { return static_cast<float>(engine_() & 0xFFFFFFu) * (1.0f / 16777216.0f); }

  /// torch.rand(rows, cols).normal_(mean, std), row-major as PyTorch stores it.
  TorchMatrix rand_then_normal(Eigen::Index rows, Eigen::Index cols, float mean, float std) {
    const Eigen::Index size = rows * cols;
    if (size < 16)
      throw std::invalid_argument("TorchGenerator: PyTorch draws tensors of fewer than 16 entries another way (got " +
                                  std::to_string(size) + ")");
    TorchMatrix m(rows, cols);
    float* data = m.data();
    for (Eigen::Index i = 0; i < size; ++i) data[i] = uniform();  // rand(): overwritten below
    for (Eigen::Index i = 0; i < size; ++i) data[i] = uniform();
    for (Eigen::Index i = 0; i + 16 <= size; i += 16) box_muller_16(data + i, mean, std);
    if (size % 16 != 0) {
      float* tail = data + size - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform();
      box_muller_16(tail, mean, std);
    }
    return m;
  }

 private:
  static void box_muller_16(float* data, float mean, float std) {
    for (int j = 0; j < 8; ++j) {
      const float u1 = 1.0f - data[j];  // (0, 1] for the logarithm
      const float u2 = data[j + 8];
      const float radius = std::sqrt(-2.0f * std::log(u1));
      const auto theta = static_cast<float>(2.0 * std::numbers::pi * static_cast<double>(u2));
      data[j] = radius * std::cos(theta) * std + mean;
      data[j + 8] = radius * std::sin(theta) * std + mean;
    }
  }

  std::mt19937 engine_;
};

/// What the reference code's `torch.manual_seed(seed); torch.rand(rows, cols).normal_(mean, std)` gives.
inline TorchMatrix torch_seeded_normal(std::uint64_t seed, Eigen::Index rows, Eigen::Index cols, float mean, float std) {
  TorchGenerator generator(seed);
  return generator.rand_then_normal(rows, cols, mean, std);
}

}  // namespace symflow::examples
