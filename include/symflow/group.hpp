// SPDX-License-Identifier: MIT
#pragma once
/// \file Symmetry groups of the parameter space: Lie algebras and their exponentials, the linear
/// actions each hidden activation admits (general linear, positive scaling, orthogonal), their
/// products over hidden layers, deduction from the model type, and the nonlinear pseudoinverse action.
#include "symflow/group/equivariance.hpp"
#include "symflow/group/general_linear.hpp"
#include "symflow/group/junction.hpp"
#include "symflow/group/linear_action.hpp"
#include "symflow/group/lie_algebra.hpp"
#include "symflow/group/orthogonal.hpp"
#include "symflow/group/pinv_action.hpp"
#include "symflow/group/product_action.hpp"
#include "symflow/group/scaling.hpp"
#include "symflow/group/symmetry.hpp"
