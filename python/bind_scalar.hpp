// SPDX-License-Identifier: MIT
#pragma once
// The classes of the symflow module over one scalar type: Sequential<suffix> (RuntimeSequential),
// Objective<suffix> (Objective over a RuntimeLoss) and Junction<suffix> (RuntimeJunction), with the
// integrators, orbit dimension and teleportation on them. Compiled once per scalar, in
// bind_float64.cpp and bind_float32.cpp, so that the two heavy instantiations build in parallel.

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include <symflow/junction/runtime_junction.hpp>
#include <symflow/model/runtime_sequential.hpp>

namespace symflow::python {

/// One layer as Python holds it (a wrapper, so that pybind11 never mistakes it for a variant to unpack).
struct PyLayer {
  RuntimeLayer spec;
};

/// Shape{C, H, W} from an int n (a vector of n features) or a tuple (C, H, W).
Shape shape_from(pybind11::handle input);

/// The kind named `name` (rescale, linear_imbalance, scale, translation); ValueError otherwise.
JunctionKind junction_kind_from(const std::string& name);

template <class S>
void bind_scalar(pybind11::module_& m, const std::string& suffix);

}  // namespace symflow::python
