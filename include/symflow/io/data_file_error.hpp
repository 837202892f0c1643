// SPDX-License-Identifier: MIT
#pragma once
/// \file The error every symflow data reader throws for a file it cannot read or that is malformed.

#include <stdexcept>
#include <string>

namespace symflow {

/// A data file is missing, unreadable or malformed. what() reads "symflow: <file>: <reason>";
/// file() and reason() give the two parts.
class DataFileError : public std::runtime_error {
 public:
  DataFileError(const std::string& file, const std::string& reason)
      : std::runtime_error("symflow: " + file + ": " + reason), file_(file), reason_(reason) {}
  /// The file (or buffer name) that was being read.
  const std::string& file() const noexcept { return file_; }
  /// What is wrong with it.
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string file_;
  std::string reason_;
};

}  // namespace symflow
