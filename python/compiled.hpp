// SPDX-License-Identifier: MIT
#pragma once
// The model's evaluations over one scalar, compiled once per scalar (compiled_float64.cpp,
// compiled_float32.cpp). The bindings and the integrators they instantiate reach the layers' code
// only through these declarations, so forward and back-propagation (in the scalar and in dual
// numbers) are instantiated and optimised once, not inlined into every binding, integrator stage
// and teleport step that evaluates the loss: that halves the module's compile time.

#include <memory>
#include <string>

#include <symflow/analysis/orbit.hpp>
#include <symflow/junction/runtime_junction.hpp>
#include <symflow/model/runtime_sequential.hpp>

namespace symflow::python {

template <class S> using Vector = Eigen::Matrix<S, Dynamic, 1>;
template <class S> using Matrix = Eigen::Matrix<S, Dynamic, Dynamic>;

/// F_θ(X).
template <class S>
Matrix<S> forward(const RuntimeSequential<S>& net, const Vector<S>& theta, const Matrix<S>& x);

/// orbit_dimension(junction, θ, relative_tolerance).
template <class S>
OrbitDimension junction_orbit_dimension(const RuntimeJunction<S>& junction, const Vector<S>& theta,
                                        double relative_tolerance);

/// symflow::Objective over a RuntimeSequential and a RuntimeLoss, with the members the integrators
/// and teleport_to_steepest use (Scalar, Params, value, value_and_gradient, gradient,
/// hessian_vector_product).
template <class S>
class CompiledObjective {
 public:
  using Scalar = S;
  using Params = Vector<S>;

  CompiledObjective(const RuntimeSequential<S>& net, const std::string& loss, const Matrix<S>& x, const Matrix<S>& y);

  const RuntimeSequential<S>& network() const;
  std::string loss_name() const;
  const Matrix<S>& input_matrix() const;
  const Matrix<S>& target_matrix() const;
  Index samples() const;
  Index size() const;

  Matrix<S> output(const Params& theta) const;
  S value(const Params& theta) const;
  S value_and_gradient(const Params& theta, Params& gradient) const;
  Params gradient(const Params& theta) const;
  Matrix<S> input_gradient(const Params& theta) const;
  Params hessian_vector_product(const Params& theta, const Params& v) const;
  Matrix<S> hessian(const Params& theta) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace symflow::python
