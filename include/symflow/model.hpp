// SPDX-License-Identifier: MIT
#pragma once
/// \file Models: activations, losses, multilayer perceptrons and the objective.
#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/loss.hpp"
#include "symflow/model/mlp.hpp"
#include "symflow/model/objective.hpp"
#include "symflow/model/random.hpp"
#include "symflow/model/runtime_loss.hpp"
#include "symflow/model/runtime_sequential.hpp"
#include "symflow/model/sequential.hpp"
