// SPDX-License-Identifier: MIT
#pragma once
// Progress of a long sweep on stderr: the threads that do the work add what they finished, and at
// most one line every few seconds says how far the whole sweep has got.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>

namespace symflow::examples {

class Progress {
 public:
  /// `total` units of work (e.g. gradient-descent steps over all runs), reported as `what`.
  Progress(std::string what, std::int64_t total, double seconds_between_lines = 5.0)
      : what_(std::move(what)), total_(total), every_(seconds_between_lines), start_(clock::now()), last_(start_) {}

  /// Adds finished units; safe to call from any thread. Prints when the last line is old enough.
  void add(std::int64_t units) {
    const std::int64_t done = done_.fetch_add(units) + units;
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    const auto now = clock::now();
    if (std::chrono::duration<double>(now - last_).count() < every_) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::cerr << "  " << what_ << ": " << 100 * done / total_ << "% after " << static_cast<long>(seconds) << " s\n";
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string what_;
  std::int64_t total_;
  double every_;
  std::atomic<std::int64_t> done_{0};
  std::mutex mutex_;
  clock::time_point start_, last_;
};

}  // namespace symflow::examples
