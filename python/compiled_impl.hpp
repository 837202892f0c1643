// SPDX-License-Identifier: MIT
#pragma once
// Definitions of compiled.hpp, included by exactly one file per scalar.

#include <symflow/model/objective.hpp>
#include <symflow/model/runtime_loss.hpp>

#include "compiled.hpp"

namespace symflow::python {

template <class S>
Matrix<S> forward(const RuntimeSequential<S>& net, const Vector<S>& theta, const Matrix<S>& x) {
  return net.forward(theta, x);
}

template <class S>
OrbitDimension junction_orbit_dimension(const RuntimeJunction<S>& junction, const Vector<S>& theta,
                                        double relative_tolerance) {
  return orbit_dimension(junction, theta, relative_tolerance);
}

template <class S>
struct CompiledObjective<S>::Impl {
  Objective<RuntimeSequential<S>, RuntimeLoss> objective;
};

template <class S>
CompiledObjective<S>::CompiledObjective(const RuntimeSequential<S>& net, const std::string& loss, const Matrix<S>& x,
                                        const Matrix<S>& y)
    : impl_(std::make_shared<const Impl>(Impl{Objective<RuntimeSequential<S>, RuntimeLoss>(net, RuntimeLoss(loss), x, y)})) {}

template <class S> const RuntimeSequential<S>& CompiledObjective<S>::network() const { return impl_->objective.model(); }
template <class S> std::string CompiledObjective<S>::loss_name() const { return impl_->objective.loss().name(); }
template <class S> const Matrix<S>& CompiledObjective<S>::input_matrix() const { return impl_->objective.inputs(); }
template <class S> const Matrix<S>& CompiledObjective<S>::target_matrix() const { return impl_->objective.targets(); }
template <class S> Index CompiledObjective<S>::samples() const { return impl_->objective.samples(); }
template <class S> Index CompiledObjective<S>::size() const { return impl_->objective.size(); }

template <class S>
Matrix<S> CompiledObjective<S>::output(const Params& theta) const { return impl_->objective.output(theta); }
template <class S>
S CompiledObjective<S>::value(const Params& theta) const { return impl_->objective.value(theta); }
template <class S>
S CompiledObjective<S>::value_and_gradient(const Params& theta, Params& gradient) const {
  return impl_->objective.value_and_gradient(theta, gradient);
}
template <class S>
typename CompiledObjective<S>::Params CompiledObjective<S>::gradient(const Params& theta) const {
  return impl_->objective.gradient(theta);
}
template <class S>
Matrix<S> CompiledObjective<S>::input_gradient(const Params& theta) const { return impl_->objective.input_gradient(theta); }
template <class S>
typename CompiledObjective<S>::Params CompiledObjective<S>::hessian_vector_product(const Params& theta, const Params& v) const {
  return impl_->objective.hessian_vector_product(theta, v);
}
template <class S>
Matrix<S> CompiledObjective<S>::hessian(const Params& theta) const { return impl_->objective.hessian(theta); }

}  // namespace symflow::python
