// SPDX-License-Identifier: MIT
#pragma once
/// \file Conserved quantities of gradient flow: Q_M = ⟨θ, M̄θ⟩ for any linear symmetry (Prop. 12),
/// layer imbalance (linear layers), per-unit scaling imbalance (homogeneous activations), the
/// whitened-input quantity of eq. (48) for any elementwise activation, the angular-momentum
/// identity of radial layers, the radial factorisation of Prop. 14 with its per-column quantity,
/// and the quadrature behind them.
#include "symflow/conserved/angular_momentum.hpp"
#include "symflow/conserved/elementwise_quantity.hpp"
#include "symflow/conserved/layer_imbalance.hpp"
#include "symflow/conserved/lie_quantity.hpp"
#include "symflow/conserved/potential.hpp"
#include "symflow/conserved/quadrature.hpp"
#include "symflow/conserved/quantity.hpp"
#include "symflow/conserved/radial_factorization.hpp"
#include "symflow/conserved/scaling_imbalance.hpp"
