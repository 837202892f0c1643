// SPDX-License-Identifier: MIT
#pragma once
/// \file symflow: symmetries, generators and conserved quantities of neural-network parameter
/// spaces, over Eigen. Include this header for everything, or one module header.
#include "symflow/core/normal_distribution.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/model.hpp"
#include "symflow/group.hpp"
#include "symflow/flow.hpp"
#include "symflow/conserved.hpp"
#include "symflow/init.hpp"
#include "symflow/analysis.hpp"
#include "symflow/ensemble.hpp"
#include "symflow/teleport.hpp"
