// SPDX-License-Identifier: MIT
#pragma once
/// \file Reading whole files into memory and decompressing gzip streams (RFC 1952) with zlib.
///
/// Including this header requires linking zlib (CMake: `target_link_libraries(app PRIVATE
/// ZLIB::ZLIB)` after `find_package(ZLIB)`); that is why symflow/symflow.hpp does not include it.

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "symflow/io/data_file_error.hpp"
#include "symflow/io/file_bytes.hpp"

namespace symflow {

/// Default cap on the size of decompressed data (4 GiB): a corrupt or hostile file cannot make a
/// reader allocate without bound.
inline constexpr std::size_t default_max_decompressed_bytes = std::size_t{1} << 32;

/// True when `bytes` starts with the gzip magic number 1f 8b.
inline bool is_gzip(std::span<const std::uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

/// Decompresses a gzip stream of one or more concatenated members. Throws DataFileError naming
/// `name` when the stream is empty, corrupt, truncated, followed by data that is not another gzip
/// member, or would decompress to more than `max_bytes` bytes.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> bytes, const std::string& name,
                                        std::size_t max_bytes = default_max_decompressed_bytes) {
  if (bytes.empty()) throw DataFileError(name, "is empty, expected a gzip stream");
  if (!is_gzip(bytes)) throw DataFileError(name, "is not gzip-compressed (it does not start with the bytes 1f 8b)");

  z_stream stream{};
  // 16 + MAX_WBITS: accept the gzip wrapper only, with the largest window.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw DataFileError(name, "zlib could not be initialised");
  const auto end = [](z_stream* s) { inflateEnd(s); };
  const std::unique_ptr<z_stream, decltype(end)> guard(&stream, end);

  std::vector<std::uint8_t> out;
  std::size_t consumed = 0;  // bytes handed to zlib so far
  const auto feed = [&] {
    if (stream.avail_in == 0 && consumed < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - consumed, UINT_MAX);
      // zlib's next_in is not const-qualified but is only read.
      stream.next_in = const_cast<Bytef*>(bytes.data() + consumed);
      stream.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
  };
  const auto message = [&](const char* what) {
    return std::string(what) + (stream.msg ? std::string(" (zlib: ") + stream.msg + ")" : std::string());
  };

  for (;;) {
    feed();
    // Grow the output geometrically, never beyond max_bytes + 1 (one byte more detects overflow).
    const std::size_t old_size = out.size();
    const std::size_t limit = max_bytes == SIZE_MAX ? SIZE_MAX : max_bytes + 1;
    if (old_size >= limit)
      throw DataFileError(name, "decompresses to more than " + std::to_string(max_bytes) + " bytes");
    const std::size_t room = std::min({std::max<std::size_t>(old_size, 1 << 16), limit - old_size,
                                       static_cast<std::size_t>(UINT_MAX)});
    out.resize(old_size + room);
    stream.next_out = out.data() + old_size;
    stream.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(old_size + (room - stream.avail_out));
    if (out.size() > max_bytes)
      throw DataFileError(name, "decompresses to more than " + std::to_string(max_bytes) + " bytes");

    if (rc == Z_STREAM_END) {
      feed();
      if (stream.avail_in == 0) break;  // all input used: done
      // More input: RFC 1952 allows further members; anything else is trailing garbage.
      if (!is_gzip({stream.next_in, stream.avail_in}))
        throw DataFileError(name, "has " + std::to_string(stream.avail_in + (bytes.size() - consumed)) +
                                      " bytes after the end of the gzip stream that are not another gzip member");
      if (inflateReset(&stream) != Z_OK) throw DataFileError(name, message("gzip member could not be restarted"));
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      // No progress was possible although output space was free: the input ran out mid-stream.
      if (stream.avail_in == 0 && consumed == bytes.size())
        throw DataFileError(name, "is a truncated gzip stream (it ends before the end of the compressed data)");
      continue;
    }
    if (rc == Z_DATA_ERROR) throw DataFileError(name, message("is a corrupt gzip stream"));
    if (rc == Z_MEM_ERROR) throw DataFileError(name, "zlib ran out of memory while decompressing");
    if (rc != Z_OK) throw DataFileError(name, message("could not be decompressed"));
  }
  return out;
}

/// The content of the file at `path`, decompressed when it is gzip-compressed (starts with 1f 8b)
/// and returned as it is otherwise.
inline std::vector<std::uint8_t> read_maybe_gzip_file(const std::string& path,
                                                      std::size_t max_bytes = default_max_decompressed_bytes) {
  std::vector<std::uint8_t> bytes = read_file_bytes(path);
  if (is_gzip(bytes)) return gunzip(bytes, path, max_bytes);
  if (bytes.size() > max_bytes)
    throw DataFileError(path, "has more than " + std::to_string(max_bytes) + " bytes");
  return bytes;
}

}  // namespace symflow
