// SPDX-License-Identifier: MIT
#pragma once
// What every example shares: an output folder, CSV files with a header line, PNGs rendered by
// the gnuplot script that sits beside the example's source, a seed option that refuses negative
// numbers, and a main that reports any error on stderr with a non-zero exit code.

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace symflow::examples {

/// Creates `dir` (and parents) and returns it; throws std::filesystem::filesystem_error naming the
/// folder when it cannot (e.g. --out /dev/null/dir).
inline std::filesystem::path prepare_output(const std::string& dir) {
  std::filesystem::path out(dir);
  std::filesystem::create_directories(out);
  return out;
}

/// Flushes and closes a CSV before anything reads it (gnuplot, a test), throwing when a write failed.
inline void close_csv(std::ofstream& file, const std::filesystem::path& path) {
  file.close();
  if (file.fail()) throw std::runtime_error("writing " + path.string() + " failed");
}

/// --seed: an unsigned 64-bit seed. CLI11 would read "-3" as 2^64 - 3; refuse it instead.
inline CLI::Option* add_seed_option(CLI::App& app, std::uint64_t& seed, const std::string& what) {
  const CLI::Validator non_negative(
      [](std::string& text) {
        return text.find('-') == std::string::npos ? std::string()
                                                   : "a seed is an integer 0 <= seed < 2^64, got " + text;
      },
      "UINT64");
  return app.add_option("--seed", seed, what + " (an integer 0 <= seed < 2^64)")->check(non_negative)->capture_default_str();
}

/// Runs an example's body: any exception (an output folder that cannot be made, a CSV that cannot be
/// written, gnuplot failing, invalid input) is printed as "<program>: error: …" and exits with 1.
template <class Body>
int guarded_main(const char* program, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << program << ": error: unknown exception\n";
  }
  return 1;
}

/// Opens `path` for writing with full precision, throwing when it cannot.
inline std::ofstream open_csv(const std::filesystem::path& path) {
  std::ofstream file(path);
  if (!file) throw std::runtime_error("cannot write " + path.string());
  file.precision(17);
  return file;
}

inline bool gnuplot_available() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

/// Runs examples/<script> with gnuplot, passing the output folder as the variable `outdir`; the CSVs it
/// reads must be closed (close_csv) before. Returns false (after saying why on stderr) when gnuplot is
/// not installed, and throws when gnuplot fails, so that the run fails.
inline bool render(const std::string& script, const std::filesystem::path& out) {
  if (!gnuplot_available()) {
    std::cerr << "gnuplot not found: skipping the PNG (install gnuplot-nox); the CSV is in " << out << "\n";
    return false;
  }
  const std::filesystem::path source = std::filesystem::path(SYMFLOW_EXAMPLES_DIR) / script;
  const std::string command = "gnuplot -e \"outdir='" + out.string() + "'\" '" + source.string() + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("gnuplot failed on " + source.string());
  return true;
}

}  // namespace symflow::examples
