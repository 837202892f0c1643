// SPDX-License-Identifier: MIT
#pragma once
/// \file Junctions of layered models (symflow::Sequential): their group actions, conserved
/// quantities, exact discrete dynamics under SGD with momentum and weight decay, and conserved<I>;
/// the same at a run-time layer index for RuntimeSequential (runtime_junction.hpp).
#include "symflow/junction/actions.hpp"
#include "symflow/junction/conserved.hpp"
#include "symflow/junction/dynamics.hpp"
#include "symflow/junction/quantities.hpp"
#include "symflow/junction/runtime_junction.hpp"
#include "symflow/junction/units.hpp"
