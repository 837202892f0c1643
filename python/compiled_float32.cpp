// SPDX-License-Identifier: MIT
// The model's evaluations over float, compiled once (see compiled.hpp).
#include "compiled_impl.hpp"

// Instantiated in compiled_float64.cpp.
extern template Eigen::VectorXd symflow::detail::singular_values<Eigen::MatrixXd>(const Eigen::MatrixXd&);

namespace symflow::python {
template class CompiledObjective<float>;
template Matrix<float> forward(const RuntimeSequential<float>&, const Vector<float>&, const Matrix<float>&);
template OrbitDimension junction_orbit_dimension(const RuntimeJunction<float>&, const Vector<float>&, double);
}  // namespace symflow::python
