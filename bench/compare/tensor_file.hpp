// SPDX-License-Identifier: MIT
#pragma once
// A small, validated text format for exchanging tensors with the PyTorch script (torch_compare.py
// writes and reads the same format):
//
//   symflow-tensors 1
//   dtype float64                 (or float32: every value is then exactly a float)
//   tensor <name> <rows> <cols>   one line per tensor, then rows·cols values, row-major,
//   <value>                       one per line, as C99/Python hexadecimal floats (exact)
//   ...
//   end
//
// Reading checks the header, the dtype, every shape, that each value parses completely, is finite
// and (for float32) representable, that names are unique, and that "end" closes the file; any
// violation throws std::runtime_error naming the file and line.

#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace symflow_compare {

struct TensorFile {
  std::string dtype;  // "float64" or "float32"
  std::map<std::string, Eigen::MatrixXd> tensors;

  const Eigen::MatrixXd& get(const std::string& name, Eigen::Index rows, Eigen::Index cols) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("tensor file: no tensor named " + name);
    if (it->second.rows() != rows || it->second.cols() != cols)
      throw std::runtime_error("tensor file: tensor " + name + " has shape " + std::to_string(it->second.rows()) + "x" +
                               std::to_string(it->second.cols()) + ", expected " + std::to_string(rows) + "x" +
                               std::to_string(cols));
    return it->second;
  }
};

inline TensorFile read_tensor_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  TensorFile file;
  std::string line;
  long number = 0;
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(path + ":" + std::to_string(number) + ": " + what);
  };
  auto next = [&]() -> bool {
    if (!std::getline(in, line)) return false;
    ++number;
    return true;
  };
  if (!next() || line != "symflow-tensors 1") fail("expected the header 'symflow-tensors 1'");
  if (!next() || (line != "dtype float64" && line != "dtype float32")) fail("expected 'dtype float64' or 'dtype float32'");
  file.dtype = line.substr(6);
  for (;;) {
    if (!next()) fail("missing 'end'");
    if (line == "end") break;
    std::istringstream header(line);
    std::string word, name, extra;
    long rows = 0, cols = 0;
    if (!(header >> word >> name >> rows >> cols) || word != "tensor" || (header >> extra))
      fail("expected 'tensor <name> <rows> <cols>', got '" + line + "'");
    if (rows <= 0 || cols <= 0 || rows > (1L << 24) / cols) fail("tensor " + name + " has an invalid shape");
    if (file.tensors.count(name)) fail("tensor " + name + " appears twice");
    Eigen::MatrixXd m(rows, cols);
    for (long i = 0; i < rows; ++i)
      for (long j = 0; j < cols; ++j) {
        if (!next()) fail("tensor " + name + " ends early");
        char* end = nullptr;
        const double v = std::strtod(line.c_str(), &end);
        if (end == line.c_str() || *end != '\0') fail("'" + line + "' is not a number");
        if (!std::isfinite(v)) fail("tensor " + name + " holds a non-finite value");
        if (file.dtype == "float32" && static_cast<double>(static_cast<float>(v)) != v)
          fail("tensor " + name + " holds " + line + ", which is not a float32 value");
        m(i, j) = v;
      }
    file.tensors.emplace(name, std::move(m));
  }
  if (next() && !line.empty()) fail("text after 'end'");
  return file;
}

inline void write_tensor_file(const std::string& path, const std::string& dtype,
                              const std::map<std::string, Eigen::MatrixXd>& tensors) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "symflow-tensors 1\ndtype " << dtype << "\n";
  char buffer[64];
  for (const auto& [name, m] : tensors) {
    out << "tensor " << name << " " << m.rows() << " " << m.cols() << "\n";
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      for (Eigen::Index j = 0; j < m.cols(); ++j) {
        std::snprintf(buffer, sizeof buffer, "%a", m(i, j));
        out << buffer << "\n";
      }
  }
  out << "end\n";
}

}  // namespace symflow_compare
