// SPDX-License-Identifier: MIT
#pragma once
/// \file Analyses on top of the groups and the flow: orbits and critical points of the symmetry
/// groups, how gradient descent and momentum break the conservation laws (Appendix D, §C.4), and
/// parallel sweeps over seeds whose results do not depend on the number of threads, and the count
/// of all conservation laws of gradient flow (Marcotte, Gribonval, Peyré) with what accounts for them.
#include "symflow/analysis/conservation_laws.hpp"
#include "symflow/analysis/critical_points.hpp"
#include "symflow/analysis/drift.hpp"
#include "symflow/analysis/orbit.hpp"
#include "symflow/analysis/sweep.hpp"
