// SPDX-License-Identifier: MIT
#pragma once
/// \file Whole files read into memory and written from it, with errors that name the file.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "symflow/io/data_file_error.hpp"

namespace symflow {

/// The whole content of the file at `path`. Throws DataFileError when it cannot be opened or read.
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  errno = 0;
  const auto close = [](std::FILE* f) { std::fclose(f); };
  const std::unique_ptr<std::FILE, decltype(close)> file(std::fopen(path.c_str(), "rb"), close);
  if (!file) throw DataFileError(path, std::string("cannot be opened: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
  for (;;) {
    errno = 0;
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < chunk.size()) {
      if (std::ferror(file.get()))
        throw DataFileError(path, std::string("cannot be read: ") + (errno ? std::strerror(errno) : "read error"));
      break;
    }
  }
  return bytes;
}

/// Writes `bytes` to the file at `path`, replacing it. Throws DataFileError when the file cannot be
/// created or written completely.
inline void write_file_bytes(const std::string& path, std::span<const std::uint8_t> bytes) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw DataFileError(path, std::string("cannot be created: ") + std::strerror(errno));
  const std::size_t written = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), file);
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (written != bytes.size() || !closed)
    throw DataFileError(path, "could not be written completely (" + std::to_string(written) + " of " +
                                  std::to_string(bytes.size()) + " bytes): " +
                                  (write_errno ? std::strerror(write_errno) : "write error"));
}

}  // namespace symflow
