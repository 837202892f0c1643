// SPDX-License-Identifier: MIT
// The symflow module's classes over double.
#include "bind_scalar_impl.hpp"

template void symflow::python::bind_scalar<double>(pybind11::module_&, const std::string&);
