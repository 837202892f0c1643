// SPDX-License-Identifier: MIT
// The model's evaluations over double, compiled once (see compiled.hpp).
#include "compiled_impl.hpp"

namespace symflow::python {
template class CompiledObjective<double>;
template Matrix<double> forward(const RuntimeSequential<double>&, const Vector<double>&, const Matrix<double>&);
template OrbitDimension junction_orbit_dimension(const RuntimeJunction<double>&, const Vector<double>&, double);
}  // namespace symflow::python

// The singular values of orbit tangent matrices are computed in double for both scalars: once, here.
template Eigen::VectorXd symflow::detail::singular_values<Eigen::MatrixXd>(const Eigen::MatrixXd&);
