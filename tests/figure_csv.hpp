// SPDX-License-Identifier: MIT
#pragma once
// The CSV files the figure programs write in --quick mode, read by tests/test_figures_*.cpp
// (ctest runs the programs first, as fixtures, into <build>/examples/quick/<run>/).

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace symflow_tests {

/// A CSV file with a header line, read as text; blank lines (block separators for gnuplot) are skipped.
class Csv {
 public:
  explicit Csv(const std::filesystem::path& path) : path_(path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path.string() + ": run the example's --quick mode first (ctest does)");
    std::string line;
    std::getline(in, line);
    header_ = split(line);
    for (std::size_t i = 0; i < header_.size(); ++i) index_[header_[i]] = i;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      rows_.push_back(split(line));
      if (rows_.back().size() != header_.size())
        throw std::runtime_error(path.string() + ": a row has " + std::to_string(rows_.back().size()) +
                                 " fields, the header " + std::to_string(header_.size()));
    }
  }

  std::size_t rows() const { return rows_.size(); }
  std::size_t size() const { return rows_.size(); }
  /// Field `name` of row r as text, as a number, as an integer.
  const std::string& text(std::size_t r, const std::string& name) const { return rows_.at(r).at(index(name)); }
  double number(std::size_t r, const std::string& name) const { return std::stod(text(r, name)); }
  long integer(std::size_t r, const std::string& name) const { return std::stol(text(r, name)); }

 private:
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream s(line);
    std::string field;
    while (std::getline(s, field, ',')) out.push_back(field);
    return out;
  }
  std::size_t index(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) throw std::runtime_error(path_.string() + " has no column '" + name + "'");
    return it->second;
  }

  std::filesystem::path path_;
  std::vector<std::string> header_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::vector<std::string>> rows_;
};

/// <build>/examples/quick/<run>/<file>.
inline std::filesystem::path quick(const std::string& run, const std::string& file) {
  return std::filesystem::path(SYMFLOW_QUICK_DIR) / run / file;
}

}  // namespace symflow_tests
