// SPDX-License-Identifier: MIT
#pragma once
// NumPy arrays in and out of the symflow module. An array passed in must have the model's dtype
// exactly (float64 or float32; no silent conversion, TypeError otherwise) and its documented number
// of dimensions (ValueError otherwise); its entries are copied into an Eigen vector or matrix, in
// one pass when the array is contiguous in the matching order. Results are Eigen objects moved
// into new NumPy arrays, which own their memory (no copy of the data).

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <type_traits>

#include "compiled.hpp"

namespace symflow::python {

namespace py = pybind11;

template <class S> std::string dtype_name() { return std::is_same_v<S, float> ? "float32" : "float64"; }

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

/// `obj` as an array of dtype S with `ndim` dimensions, or TypeError / ValueError naming `what`.
template <class S>
py::array checked_array(py::handle obj, const std::string& what, py::ssize_t ndim, const char* layout) {
  py::array a = py::array::ensure(obj);
  if (!a) throw py::type_error("symflow: " + what + " must be a NumPy array of dtype " + dtype_name<S>() + ", got " +
                               std::string(py::str(py::type::of(obj).attr("__name__"))));
  if (!a.dtype().is(py::dtype::of<S>()))
    throw py::type_error("symflow: " + what + " has dtype " + std::string(py::str(a.dtype())) + ", but the model is " +
                         dtype_name<S>() + " (convert it with .astype(numpy." + dtype_name<S>() + "))");
  if (a.ndim() != ndim)
    throw py::value_error("symflow: " + what + " has shape " + shape_of(a) + ", expected " + layout);
  return a;
}

/// A 1-D array as an Eigen vector (copied).
template <class S>
Vector<S> to_vector(py::handle obj, const std::string& what) {
  const auto a = py::array_t<S, py::array::c_style>::ensure(checked_array<S>(obj, what, 1, "a 1-D array"));
  return Eigen::Map<const Vector<S>>(a.data(), a.shape(0));
}

/// A 2-D array as an Eigen matrix (copied; a Fortran-ordered array, such as x.T of a C-ordered
/// (samples, features) array, is read in one pass).
template <class S>
Matrix<S> to_matrix(py::handle obj, const std::string& what, const char* layout) {
  const auto a = py::array_t<S, py::array::f_style>::ensure(checked_array<S>(obj, what, 2, layout));
  return Eigen::Map<const Matrix<S>>(a.data(), a.shape(0), a.shape(1));
}

/// A group or algebra element: a 1-D array where elements are vectors (cols = 1), else a 2-D array.
template <class S>
Matrix<S> to_element(py::handle obj, const std::string& what, Index cols) {
  if (cols == 1) return to_vector<S>(obj, what);
  return to_matrix<S>(obj, what, "a 2-D array (h, h)");
}

/// An element of shape rows × 1 as a 1-D array, any other as a 2-D array.
template <class S>
py::array from_element(const Matrix<S>& m) {
  if (m.cols() == 1) return py::cast(Vector<S>(m.col(0)));
  return py::cast(m);
}

}  // namespace symflow::python
