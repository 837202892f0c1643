// SPDX-License-Identifier: MIT
#pragma once
/// \file mpi_sweep: a sweep (analysis/sweep.hpp) over the ranks of an MPI communicator. Rank r of
/// R runs the items of shard(range, r, R) with symflow::sweep on its own OpenMP threads; rank 0
/// gathers every result in item order. Because item i depends on (seed, i) alone
/// (sweep_generator), the gathered vector is bit for bit the one a single process computes with
/// sweep(range, f), for any number of ranks, threads or machines.
///
/// Needs an MPI implementation (Debian: libopenmpi-dev); not part of symflow.hpp for that reason.
/// Results travel as bytes: the result type must be trivially copyable (numbers, std::array,
/// structs of those). The caller initialises MPI (MPI_Init) and finalises it.

#include <mpi.h>

#include <atomic>
#include <climits>
#include <functional>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "symflow/analysis/sweep.hpp"

namespace symflow {

namespace detail {

inline void mpi_check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw std::runtime_error(std::string("symflow::mpi_sweep: ") + what + " failed");
}

}  // namespace detail

/// Runs f(i) for every i in `range` over the ranks of `comm` (each on `threads` OpenMP threads, 0
/// for OpenMP's default) and returns, on rank 0, the results in order of i; the other ranks get
/// an empty vector. Collective: every rank of `comm` must call it with the same range. If some
/// f(i) throw, every rank throws: the rank that ran the smallest failing i rethrows its exception,
/// the others throw std::runtime_error naming that item.
template <class F>
auto mpi_sweep(MPI_Comm comm, const SweepRange& range, F&& f, int threads = 0) {
  using Result = std::remove_cvref_t<std::invoke_result_t<F&, std::uint64_t>>;
  static_assert(std::is_trivially_copyable_v<Result>,
                "symflow::mpi_sweep: results travel between ranks as bytes; return a trivially copyable type "
                "(numbers, std::array, a struct of those)");
  int rank = 0, ranks = 1;
  detail::mpi_check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  detail::mpi_check(MPI_Comm_size(comm, &ranks), "MPI_Comm_size");
  const SweepRange mine = shard(range, static_cast<std::uint64_t>(rank), static_cast<std::uint64_t>(ranks));

  // This rank's shard, noting the smallest item that throws (sweep rethrows that item's exception).
  std::vector<Result> local;
  std::exception_ptr error;
  std::atomic<std::uint64_t> failed_item{std::numeric_limits<std::uint64_t>::max()};
  try {
    local = sweep(
        mine,
        [&](std::uint64_t i) {
          try {
            return std::invoke(f, i);
          } catch (...) {
            std::uint64_t seen = failed_item.load();
            while (i < seen && !failed_item.compare_exchange_weak(seen, i)) {
            }
            throw;
          }
        },
        threads);
  } catch (...) {
    error = std::current_exception();
  }
  std::uint64_t failed = failed_item.load();
  std::uint64_t first_failed = failed;
  static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t));
  detail::mpi_check(MPI_Allreduce(&failed, &first_failed, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm), "MPI_Allreduce");
  if (first_failed != std::numeric_limits<std::uint64_t>::max()) {
    if (error && failed == first_failed) std::rethrow_exception(error);
    throw std::runtime_error("symflow::mpi_sweep: item " + std::to_string(first_failed) + " failed on another rank");
  }

  // Shard sizes follow from the range alone: rank 0 knows every count and offset.
  const auto bytes_of = [](std::uint64_t items) {
    const std::uint64_t b = items * sizeof(Result);
    if (b > static_cast<std::uint64_t>(INT_MAX))
      throw std::length_error("symflow::mpi_sweep: a shard's results take " + std::to_string(b) +
                              " bytes, more than one MPI message carries (" + std::to_string(INT_MAX) +
                              "); use more ranks or split the range");
    return static_cast<int>(b);
  };
  std::vector<int> counts, offsets;
  std::vector<Result> all;
  if (rank == 0) {
    all.resize(static_cast<std::size_t>(range.count));
    counts.resize(static_cast<std::size_t>(ranks));
    offsets.resize(static_cast<std::size_t>(ranks));
    std::uint64_t offset = 0;
    for (int r = 0; r < ranks; ++r) {
      const SweepRange piece = shard(range, static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(ranks));
      counts[static_cast<std::size_t>(r)] = bytes_of(piece.count);
      offsets[static_cast<std::size_t>(r)] = bytes_of(offset);
      offset += piece.count;
    }
  }
  detail::mpi_check(MPI_Gatherv(local.data(), bytes_of(local.size()), MPI_BYTE, all.data(), counts.data(),
                                offsets.data(), MPI_BYTE, 0, comm),
                    "MPI_Gatherv");
  return all;
}

/// mpi_sweep over items [0, count).
template <class F>
auto mpi_sweep(MPI_Comm comm, std::uint64_t count, F&& f, int threads = 0) {
  return mpi_sweep(comm, SweepRange{0, count}, std::forward<F>(f), threads);
}

}  // namespace symflow
