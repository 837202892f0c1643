// SPDX-License-Identifier: MIT
#pragma once
/// \file Moving a network along its symmetry orbit on purpose, the loss unchanged: balance and
/// teleport to a chosen conserved quantity Q, to the steepest point of the level set, to the
/// flattest or sharpest point of a minimum; Q-restoring descent and teleporting inside training.
/// See docs/teleport.md.

#include "symflow/teleport/in_training.hpp"
#include "symflow/teleport/orbit_gradient.hpp"
#include "symflow/teleport/orbit_search.hpp"
#include "symflow/teleport/quantity_target.hpp"
#include "symflow/teleport/report.hpp"
#include "symflow/teleport/spectrum.hpp"
