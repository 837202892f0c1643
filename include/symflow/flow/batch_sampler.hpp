// SPDX-License-Identifier: MIT
#pragma once
/// \file BatchSampler: the indices of mini-batches of B samples drawn from N, reproducible from the
/// generator it is given.
///
/// Two schemes:
///  - Sampling::without_replacement (epochs, as PyTorch's DataLoader(shuffle=True, drop_last=True)):
///    each epoch is a fresh random permutation of 0, …, N−1 cut into ⌊N/B⌋ batches; the last N mod B
///    indices of the permutation are left out of that epoch. With B = N every batch is the whole
///    data set and no permutation is drawn.
///  - Sampling::with_replacement: each batch is B independent uniform draws.
/// The indices of a batch are sorted (a batch is a set; sorted, it reads the data in memory order
/// and a full batch equals the data set itself). Draws use symflow's own unbiased bounded integers
/// and Fisher–Yates shuffle, so a seed gives the same batches with every standard library.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "symflow/core/config.hpp"

namespace symflow {

enum class Sampling { without_replacement, with_replacement };

namespace detail {

/// A uniform integer in [0, n) from a generator of 64 random bits, by rejection (unbiased).
template <class Rng>
std::uint64_t uniform_below(Rng& rng, std::uint64_t n) {
  static_assert(Rng::min() == 0 && Rng::max() == std::numeric_limits<std::uint64_t>::max(),
                "symflow: batch sampling needs a generator of 64 random bits, such as std::mt19937_64");
  // Accept x ≥ 2^64 mod n: then [threshold, 2^64) holds a whole number of copies of [0, n).
  const std::uint64_t threshold = (0 - n) % n;
  std::uint64_t x = rng();
  while (x < threshold) x = rng();
  return x % n;
}

}  // namespace detail

/// Draws mini-batches of `batch_size` indices out of `samples`, with an owned generator.
template <class Rng = std::mt19937_64>
class BatchSampler {
 public:
  BatchSampler(Index samples, Index batch_size, Rng rng, Sampling sampling = Sampling::without_replacement)
      : samples_(samples), batch_size_(batch_size), sampling_(sampling), rng_(std::move(rng)) {
    if (samples < 1) throw std::invalid_argument("symflow::BatchSampler: the data set has " + std::to_string(samples) + " samples, expected at least 1");
    if (batch_size < 1 || batch_size > samples)
      throw std::invalid_argument("symflow::BatchSampler: batch size " + std::to_string(batch_size) +
                                  ", expected between 1 and the number of samples " + std::to_string(samples));
    batch_.resize(static_cast<std::size_t>(batch_size));
    if (sampling_ == Sampling::without_replacement) {
      order_.resize(static_cast<std::size_t>(samples));
      std::iota(order_.begin(), order_.end(), Index(0));
      cursor_ = samples;  // the first draw starts an epoch
    }
    next();
  }

  /// Draws the next batch. Allocation-free.
  void next() {
    if (sampling_ == Sampling::with_replacement) {
      for (auto& i : batch_) i = static_cast<Index>(detail::uniform_below(rng_, static_cast<std::uint64_t>(samples_)));
      std::sort(batch_.begin(), batch_.end());
      ++batches_;
      return;
    }
    if (cursor_ + batch_size_ > samples_) {
      ++epoch_;
      cursor_ = 0;
      if (batch_size_ < samples_) shuffle();
    }
    std::copy_n(order_.begin() + cursor_, batch_size_, batch_.begin());
    std::sort(batch_.begin(), batch_.end());
    cursor_ += batch_size_;
    ++batches_;
  }

  /// The current batch: sorted sample indices.
  const std::vector<Index>& indices() const { return batch_; }
  /// True when every batch is the whole data set in order (B = N, without replacement).
  bool full_batch() const { return sampling_ == Sampling::without_replacement && batch_size_ == samples_; }
  Index samples() const { return samples_; }
  Index batch_size() const { return batch_size_; }
  Sampling sampling() const { return sampling_; }
  /// Batches drawn so far (the current one included).
  Index batches_drawn() const { return batches_; }
  /// Epochs started so far (without replacement; the current one included).
  Index epoch() const { return epoch_; }
  /// Batches in one epoch, ⌊N/B⌋.
  Index batches_per_epoch() const { return samples_ / batch_size_; }

 private:
  void shuffle() {  // Fisher–Yates
    for (Index i = samples_ - 1; i > 0; --i) {
      const auto j = static_cast<Index>(detail::uniform_below(rng_, static_cast<std::uint64_t>(i + 1)));
      std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
    }
  }

  Index samples_, batch_size_;
  Sampling sampling_;
  Rng rng_;
  std::vector<Index> order_, batch_;
  Index cursor_ = 0, batches_ = 0, epoch_ = 0;
};

}  // namespace symflow
