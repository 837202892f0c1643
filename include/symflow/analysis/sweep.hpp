// SPDX-License-Identifier: MIT
#pragma once
/// \file Sweeps: f(i) for every item i of a range of indices (random seeds, initialisations,
/// ensemble members), in parallel over OpenMP threads, with results in index order.
///
/// Each item draws its randomness from its own generator, sweep_generator(seed, i), so that an
/// item's result depends on (seed, i) alone: the same for every number of threads, every
/// schedule, and whichever machine runs it. A sweep over [0, N) therefore splits into shards
/// [a, b) that run anywhere (other processes, other machines, a batch scheduler's array job)
/// and whose outputs, concatenated in shard order, equal the output of the whole sweep.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace symflow {

/// The items [first, first + count) of a sweep.
struct SweepRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;

  std::uint64_t end() const { return first + count; }
};

/// Shard `k` of `shards` (k = 0, …, shards − 1): contiguous pieces of `all` whose sizes differ by
/// at most one and which, in order, cover `all` exactly.
inline SweepRange shard(const SweepRange& all, std::uint64_t k, std::uint64_t shards) {
  if (shards == 0 || k >= shards)
    throw std::invalid_argument("symflow::shard: shard " + std::to_string(k) + " of " + std::to_string(shards) +
                                " does not exist; shards are 0, …, shards − 1 with shards ≥ 1");
  const std::uint64_t base = all.count / shards, extra = all.count % shards;
  const std::uint64_t first = all.first + k * base + std::min(k, extra);
  return {first, base + (k < extra ? 1 : 0)};
}

/// The generator of item `index` in a sweep with base seed `seed`: a 64-bit Mersenne Twister
/// seeded through std::seed_seq{seed, index}, so that neighbouring items get unrelated streams.
inline std::mt19937_64 sweep_generator(std::uint64_t seed, std::uint64_t index) {
  std::seed_seq sequence{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32)};
  return std::mt19937_64(sequence);
}

/// Runs f(i) for every i in `range` and returns the results in order of i. With OpenMP the items
/// run in parallel on `threads` threads (0: OpenMP's default, e.g. OMP_NUM_THREADS); each result
/// is written to its own slot, so the output is the same for every thread count as long as f(i)
/// depends on i alone (draw randomness from sweep_generator(seed, i), never from shared state).
/// If some f(i) throw, the exception of the smallest such i is rethrown after the sweep.
template <class F>
auto sweep(const SweepRange& range, F&& f, int threads = 0) {
  using Result = std::remove_cvref_t<std::invoke_result_t<F&, std::uint64_t>>;
  static_assert(!std::is_void_v<Result>, "symflow::sweep: f(i) must return the result of item i");
  static_assert(std::is_default_constructible_v<Result>, "symflow::sweep: the result type must be default-constructible");
  // One slot per item (a struct, so that even bool results never share a byte between threads).
  struct Slot {
    Result value{};
    std::exception_ptr error;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(range.count));
  const auto n = static_cast<std::int64_t>(range.count);
#if defined(_OPENMP)
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
#else
  (void)threads;
#endif
  for (std::int64_t j = 0; j < n; ++j) {
    Slot& slot = slots[static_cast<std::size_t>(j)];
    try {
      slot.value = std::invoke(f, range.first + static_cast<std::uint64_t>(j));
    } catch (...) {
      slot.error = std::current_exception();
    }
  }
  std::vector<Result> results;
  results.reserve(slots.size());
  for (Slot& slot : slots) {
    if (slot.error) std::rethrow_exception(slot.error);
    results.push_back(std::move(slot.value));
  }
  return results;
}

/// A sweep over items [0, count).
template <class F>
auto sweep(std::uint64_t count, F&& f, int threads = 0) {
  return sweep(SweepRange{0, count}, std::forward<F>(f), threads);
}

}  // namespace symflow
