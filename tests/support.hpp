// Shared helpers for symflow's tests: seeded generators and tolerances per scalar.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <type_traits>

#include <symflow/symflow.hpp>
#include <symflow/testing.hpp>

namespace symflow::test {

/// A generator for trial `trial`, reproducible from Catch's --rng-seed.
inline std::mt19937_64 rng_for(int trial) {
  return std::mt19937_64(static_cast<std::uint64_t>(Catch::rngSeed()) * 1000003ULL + static_cast<std::uint64_t>(trial));
}

/// A fixed-shape random matrix with N(0, s²) entries.
template <class Matrix>
Matrix normal(std::mt19937_64& rng, Index rows = Matrix::RowsAtCompileTime, Index cols = Matrix::ColsAtCompileTime,
              double s = 1.0) {
  return random_normal<Matrix>(rows, cols, rng, s);
}

/// One-hot columns with random classes.
template <class Matrix>
Matrix one_hot(std::mt19937_64& rng, Index classes, Index samples) {
  Matrix y = Matrix::Zero(classes, samples);
  std::uniform_int_distribution<Index> pick(0, classes - 1);
  for (Index j = 0; j < samples; ++j) y(pick(rng), j) = 1;
  return y;
}

/// A user activation that knows only σ and σ′: softplus, σ = log(1 + eᶻ), σ′ = sigmoid > 0, so
/// eq. (48) integrates σ/σ′ numerically.
struct Softplus {
  template <class S> S value(const S& z) const {
    using std::exp;
    using std::log1p;
    return z > S(0) ? z + log1p(exp(-z)) : log1p(exp(z));
  }
  template <class S> S derivative(const S& z) const { return Sigmoid{}.value(z); }
  static std::string name() { return "softplus"; }
};

/// |v| of a scalar quantity, ‖v‖ of a vector or matrix one.
template <class V>
double magnitude(const V& v) {
  if constexpr (std::is_arithmetic_v<V>) return std::abs(static_cast<double>(v));
  else return static_cast<double>(v.norm());
}

}  // namespace symflow::test
