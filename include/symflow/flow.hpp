// SPDX-License-Identifier: MIT
#pragma once
/// \file Integrators: gradient descent, mini-batch SGD, heavy-ball momentum, Adam, gradient flow by
/// RK4 and by adaptive Dormand–Prince 5(4) (locating the kinks of ReLU networks), and the driver `run` with observers, Trace and stopping
/// rules.
#include "symflow/flow/adam.hpp"
#include "symflow/flow/batch_sampler.hpp"
#include "symflow/flow/differentiable.hpp"
#include "symflow/flow/dormand_prince.hpp"
#include "symflow/flow/gradient_descent.hpp"
#include "symflow/flow/integrator.hpp"
#include "symflow/flow/minibatch_objective.hpp"
#include "symflow/flow/momentum.hpp"
#include "symflow/flow/observer.hpp"
#include "symflow/flow/run.hpp"
#include "symflow/flow/runge_kutta4.hpp"
#include "symflow/flow/stopping.hpp"
#include "symflow/flow/switching.hpp"
#include "symflow/flow/trace.hpp"
