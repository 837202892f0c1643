// SPDX-License-Identifier: MIT
#pragma once
// The paper's reference code plots its own Q (utils.compute_Q), not eq. (48)'s: ‖U‖² − ΣΦ_code(V)
// with ΣΦ_code = ‖V‖² (identity), ‖max(V, 0)‖² (ReLU), Σcosh²V (tanh), and ½‖U‖² − ΣV − ΣeV
// (sigmoid). In terms of eq. (48): 2Q, 2Q, 2Q − hn and Q − hn (hn the number of entries of V).

#include <cmath>
#include <type_traits>

#include <Eigen/Core>

#include "symflow/model/activation.hpp"

namespace symflow::examples {

/// The reference code's Q of the outgoing weights U and the incoming weights V (any orientation:
/// only the entries count, summed in storage order), evaluated in double whatever their scalar.
template <class Act, class U, class V>
double reference_code_q(const U& u, const V& v) {
  const double uu = u.template cast<double>().squaredNorm();
  double phi = 0;
  for (Eigen::Index k = 0; k < v.size(); ++k) {
    const double x = static_cast<double>(v.data()[k]);
    if constexpr (std::is_same_v<Act, Identity>) phi += x * x;
    else if constexpr (std::is_same_v<Act, ReLU>) phi += x > 0 ? x * x : 0.0;
    else if constexpr (std::is_same_v<Act, Tanh>) phi += std::cosh(x) * std::cosh(x);
    else phi += x + std::exp(x);
  }
  return (std::is_same_v<Act, Sigmoid> ? uu / 2 : uu) - phi;
}

}  // namespace symflow::examples
