// SPDX-License-Identifier: MIT
// symflow._symflow.read_safetensors / write_safetensors: PyTorch's weight files through the C++
// reader and writer (symflow/io/safetensors.hpp), with all of its validation. Tensors come back as
// float64 NumPy arrays of their file shape (F16, BF16 and F32 widen exactly) and their dtype names
// beside them; they are written as F32 or F64.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include <symflow/io/safetensors.hpp>

namespace py = pybind11;
using namespace pybind11::literals;

namespace symflow::python {

void bind_safetensors(py::module_& m) {
  m.def(
      "read_safetensors",
      [](const std::string& path) {
        const SafetensorsFile file = read_safetensors(path);
        py::dict tensors, dtypes;
        for (const auto& [name, t] : file.tensors) {
          std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
          py::array_t<double> a(shape);
          std::copy(t.values.begin(), t.values.end(), a.mutable_data());
          tensors[py::str(name)] = std::move(a);
          dtypes[py::str(name)] = safetensors_dtype_name(t.dtype);
        }
        return py::make_tuple(tensors, dtypes, file.metadata);
      },
      "path"_a,
      "(tensors, dtypes, metadata) of a safetensors file: float64 arrays by name, their dtypes in the file, "
      "the __metadata__ strings; a malformed file raises RuntimeError naming the file, tensor and problem");
  m.def(
      "write_safetensors",
      [](const std::string& path, const py::dict& tensors, const std::string& dtype,
         const std::map<std::string, std::string>& metadata) {
        if (dtype != "F32" && dtype != "F64")
          throw py::value_error("symflow.write_safetensors: dtype is '" + dtype + "', expected 'F32' or 'F64'");
        SafetensorsFile file;
        file.source = path;
        file.metadata = metadata;
        for (const auto& [key, value] : tensors) {
          const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(value);
          const std::string name = py::cast<std::string>(key);
          if (!a) throw py::type_error("symflow.write_safetensors: tensor '" + name + "' is not a numeric array");
          SafetensorsTensor t;
          for (py::ssize_t i = 0; i < a.ndim(); ++i) t.shape.push_back(static_cast<std::uint64_t>(a.shape(i)));
          t.values.assign(a.data(), a.data() + a.size());
          file.tensors.emplace(name, std::move(t));
        }
        write_safetensors(path, file, dtype == "F32" ? SafetensorsDtype::F32 : SafetensorsDtype::F64);
      },
      "path"_a, "tensors"_a, "dtype"_a = "F32", "metadata"_a = std::map<std::string, std::string>{},
      "Writes float arrays by name as a safetensors file (F32 or F64), laid out as the Python safetensors "
      "package lays it out");
}

}  // namespace symflow::python
