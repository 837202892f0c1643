// SPDX-License-Identifier: MIT
#pragma once
// What every example shares: an output folder, CSV files with a header line, and PNGs rendered by
// the gnuplot script that sits beside the example's source.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

namespace symflow::examples {

/// Creates `dir` (and parents) and returns it.
inline std::filesystem::path prepare_output(const std::string& dir) {
  std::filesystem::path out(dir);
  std::filesystem::create_directories(out);
  return out;
}

/// Opens `path` for writing with full precision, throwing when it cannot.
inline std::ofstream open_csv(const std::filesystem::path& path) {
  std::ofstream file(path);
  if (!file) throw std::runtime_error("cannot write " + path.string());
  file.precision(17);
  return file;
}

inline bool gnuplot_available() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

/// Runs examples/<script> with gnuplot, passing the output folder as the variable `outdir`.
/// Returns false (after saying why on stderr) when gnuplot is missing or fails.
inline bool render(const std::string& script, const std::filesystem::path& out) {
  if (!gnuplot_available()) {
    std::cerr << "gnuplot not found: skipping the PNG (install gnuplot-nox); the CSV is in " << out << "\n";
    return false;
  }
  const std::filesystem::path source = std::filesystem::path(SYMFLOW_EXAMPLES_DIR) / script;
  const std::string command = "gnuplot -e \"outdir='" + out.string() + "'\" '" + source.string() + "'";
  if (std::system(command.c_str()) != 0) {
    std::cerr << "gnuplot failed on " << source << "\n";
    return false;
  }
  return true;
}

}  // namespace symflow::examples
