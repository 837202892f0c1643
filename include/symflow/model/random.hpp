// SPDX-License-Identifier: MIT
#pragma once
/// \file Random parameters and data. Every function takes its generator explicitly; draws are
/// made in double and cast, so float, double and long double models see the same numbers.

#include <random>

#include "symflow/core/config.hpp"

namespace symflow {

/// θ with i.i.d. N(0, stddev²) entries, of the model's length d.
template <class Model, class Rng>
typename Model::Params random_params(const Model& model, Rng& rng, double stddev = 1.0) {
  std::normal_distribution<double> normal(0.0, stddev);
  typename Model::Params p(model.size());
  for (Index i = 0; i < p.size(); ++i) p[i] = static_cast<typename Model::Scalar>(normal(rng));
  return p;
}

/// A matrix (or vector) of the given type and shape with i.i.d. N(0, stddev²) entries.
template <class Matrix, class Rng>
Matrix random_normal(Index rows, Index cols, Rng& rng, double stddev = 1.0) {
  std::normal_distribution<double> normal(0.0, stddev);
  Matrix m(rows, cols);
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<typename Matrix::Scalar>(normal(rng));
  return m;
}

}  // namespace symflow
