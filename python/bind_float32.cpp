// SPDX-License-Identifier: MIT
// The symflow module's classes over float.
#include "bind_scalar_impl.hpp"

template void symflow::python::bind_scalar<float>(pybind11::module_&, const std::string&);
