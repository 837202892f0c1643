// SPDX-License-Identifier: MIT
#pragma once
/// \file Mean and variance of a random quantity (an activation states the Gaussian moments of its
/// potential with it; symflow/init/statistics.hpp builds on it).

#include <cmath>

namespace symflow {

/// Mean and variance of a random quantity.
struct Moments {
  double mean = 0.0;
  double variance = 0.0;
  double stddev() const { return std::sqrt(variance); }
};

}  // namespace symflow
