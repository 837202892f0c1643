// SPDX-License-Identifier: MIT
#pragma once
/// \file The safetensors format (Hugging Face; what PyTorch's weights are shared in), read and
/// written with every fact of the format validated.
///
/// A file is: N as an unsigned 64-bit little-endian integer; N bytes of UTF-8 JSON, an object
///   {"__metadata__": {"key": "value", …},                     (optional, strings only)
///    "name": {"dtype": "F32", "shape": [d1, …], "data_offsets": [begin, end]}, …}
/// (padded with spaces); then the data region, where tensor `name` occupies the bytes
/// [begin, end) counted from the region's start, its elements little-endian in C (row-major)
/// order, end − begin = Π d_i · (bytes per element). The tensors must tile the data region exactly:
/// no overlap, no hole, nothing after the last one.
///
/// symflow reads the floating-point dtypes F64, F32, F16 and BF16 into double, which holds each of
/// their values exactly (symflow/io/float_formats.hpp), and refuses every other dtype by name.
/// It writes F32 or F64 as the Python `safetensors` package does: tensors sorted by name
/// (byte order), compact JSON, the header padded with spaces to a multiple of 8 bytes.
///
/// Needs nlohmann/json (Debian: nlohmann-json3-dev; CMake: the target symflow::safetensors), which
/// is why symflow/symflow.hpp does not include this header.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "symflow/io/data_file_error.hpp"
#include "symflow/io/file_bytes.hpp"
#include "symflow/io/float_formats.hpp"

namespace symflow {

/// The element types symflow reads (all four) and writes (F64, F32).
enum class SafetensorsDtype { F64, F32, F16, BF16 };

/// The dtype's name in a safetensors header.
inline const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::F64: return "F64";
    case SafetensorsDtype::F32: return "F32";
    case SafetensorsDtype::F16: return "F16";
    case SafetensorsDtype::BF16: return "BF16";
  }
  return "?";
}

/// Bytes per element.
inline std::uint64_t safetensors_dtype_size(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::F64: return 8;
    case SafetensorsDtype::F32: return 4;
    case SafetensorsDtype::F16:
    case SafetensorsDtype::BF16: return 2;
  }
  return 0;
}

/// One tensor: its dtype in the file, its shape and its elements in C (row-major) order.
struct SafetensorsTensor {
  SafetensorsDtype dtype = SafetensorsDtype::F64;
  std::vector<std::uint64_t> shape;
  std::vector<double> values;
};

/// The tensors of a safetensors file by name, its metadata, and the file's name for messages.
struct SafetensorsFile {
  std::string source = "safetensors buffer";
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Headers longer than this are refused (the limit of the reference implementation: 100 MB).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// "[2, 3]".
inline std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace detail {

/// Π shape, or false when the product overflows 64 bits (a zero extent makes it 0 whatever the rest).
inline bool element_count(const std::vector<std::uint64_t>& shape, std::uint64_t& count) {
  count = 1;
  if (std::find(shape.begin(), shape.end(), std::uint64_t{0}) != shape.end()) {
    count = 0;
    return true;
  }
  for (const std::uint64_t d : shape) {
    if (count > std::numeric_limits<std::uint64_t>::max() / d) return false;
    count *= d;
  }
  return true;
}

inline std::uint64_t load_little_endian(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

inline void store_little_endian(std::uint64_t v, int bytes, std::vector<std::uint8_t>& out) {
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}

/// The dtype named `name`, or throws naming the tensor: integer, boolean and 8-bit float dtypes
/// are refused by name, anything else as unknown.
inline SafetensorsDtype parse_dtype(const std::string& name, const std::string& tensor, const std::string& file) {
  if (name == "F64") return SafetensorsDtype::F64;
  if (name == "F32") return SafetensorsDtype::F32;
  if (name == "F16") return SafetensorsDtype::F16;
  if (name == "BF16") return SafetensorsDtype::BF16;
  static const char* const refused[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
                                        "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
  for (const char* r : refused)
    if (name == r)
      throw DataFileError(file, "tensor '" + tensor + "' has dtype " + name +
                                    ", which symflow does not read: parameters must be F64, F32, F16 or BF16 "
                                    "(save only floating-point tensors, e.g. a BatchNorm's num_batches_tracked "
                                    "is I64 and not a parameter)");
  throw DataFileError(file, "tensor '" + tensor + "' has the unknown dtype \"" + name +
                                "\", expected F64, F32, F16 or BF16");
}

/// A JSON value as text for a message, cut after 80 characters.
inline std::string json_excerpt(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

/// A non-negative JSON integer, or throws naming `what`.
inline std::uint64_t json_extent(const nlohmann::json& v, const std::string& what, const std::string& file) {
  if (!v.is_number_unsigned())
    throw DataFileError(file, what + " is " + json_excerpt(v) + ", expected a non-negative integer");
  return v.get<std::uint64_t>();
}

/// Parses the header text, refusing any JSON object that names a key twice (JSON parsers keep
/// one of the two silently; the format has one entry per tensor) and any nesting deeper than the
/// format's (header → entry → array of numbers): such values are not even built, so neither
/// memory nor the recursion of later JSON operations grows with a hostile file's depth.
inline nlohmann::json parse_header_json(const char* begin, const char* end, const std::string& file) {
  struct Object {
    std::set<std::string> keys;
    std::string context;  // the key this object is the value of
  };
  std::vector<Object> open;
  std::string last_key, duplicate, duplicate_context;
  std::size_t duplicate_depth = 0;
  bool too_deep = false;
  const nlohmann::json::parser_callback_t check = [&](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= 3) {
      too_deep = true;
      return false;  // discard the value and everything inside it
    }
    if (event == E::object_start) {
      open.push_back({{}, last_key});
    } else if (event == E::object_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == E::key && !open.empty()) {
      last_key = parsed.get<std::string>();
      auto& keys = open.back().keys;
      if (!keys.insert(last_key).second && duplicate.empty()) {
        duplicate = last_key;
        duplicate_context = open.back().context;
        duplicate_depth = open.size();
      }
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(begin, end, check);
  } catch (const nlohmann::json::exception& e) {
    throw DataFileError(file, std::string("has a header that is not valid JSON: ") + e.what());
  }
  if (too_deep)
    throw DataFileError(file, "has a header nested deeper than a safetensors header is (an object of entries whose "
                              "values are strings or arrays of numbers)");
  if (!duplicate.empty()) {
    if (duplicate_depth == 1 && duplicate == "__metadata__")
      throw DataFileError(file, "has two __metadata__ entries in its header");
    if (duplicate_depth == 1)
      throw DataFileError(file, "names the tensor '" + duplicate + "' twice in its header");
    throw DataFileError(file, "has the key '" + duplicate + "' twice in the header entry '" + duplicate_context + "'");
  }
  return header;
}

/// Reads the element at p.
inline double decode_element(const std::uint8_t* p, SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::F64: return std::bit_cast<double>(load_little_endian(p, 8));
    case SafetensorsDtype::F32: return float_bits_to_double(static_cast<std::uint32_t>(load_little_endian(p, 4)));
    case SafetensorsDtype::F16: return half_to_double(static_cast<std::uint16_t>(load_little_endian(p, 2)));
    case SafetensorsDtype::BF16: return bfloat16_to_double(static_cast<std::uint16_t>(load_little_endian(p, 2)));
  }
  return 0.0;
}

}  // namespace detail

/// Parses a safetensors file held in `bytes`; `name` names it in messages. Throws DataFileError
/// naming the file, the tensor, what was expected and what was found, for: a file shorter than 8
/// bytes; a header length beyond the file or above safetensors_max_header_bytes; a header that is
/// not a JSON object (or not UTF-8); a key given twice; a __metadata__ that is not an object of
/// strings; a tensor entry without exactly the keys dtype, shape and data_offsets; a dtype other
/// than F64, F32, F16, BF16; a shape entry that is not a non-negative integer or whose product
/// overflows; data_offsets that are not two integers begin ≤ end inside the data region; a byte
/// length other than Π shape · element size; tensors that overlap, leave a hole, or do not reach
/// the end of the file.
inline SafetensorsFile parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& name) {
  const std::uint64_t size = bytes.size();
  if (size < 8)
    throw DataFileError(name, "is " + std::to_string(size) +
                                  " bytes long, too short for a safetensors file (8 bytes of header length first)");
  const std::uint64_t header_bytes = detail::load_little_endian(bytes.data(), 8);
  if (header_bytes > safetensors_max_header_bytes)
    throw DataFileError(name, "declares a header of " + std::to_string(header_bytes) + " bytes, more than the " +
                                  std::to_string(safetensors_max_header_bytes) + " bytes a safetensors header may have");
  if (header_bytes > size - 8)
    throw DataFileError(name, "declares a header of " + std::to_string(header_bytes) + " bytes, but only " +
                                  std::to_string(size - 8) + " bytes follow the header length (the file is truncated)");
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (header_bytes == 0 || text[0] != '{')
    throw DataFileError(name, "has a header that does not start with '{', expected a JSON object");
  const nlohmann::json header = detail::parse_header_json(text, text + header_bytes, name);
  if (!header.is_object())
    throw DataFileError(name, "has a header that is not a JSON object");

  SafetensorsFile file;
  file.source = name;
  const std::uint64_t data_bytes = size - 8 - header_bytes;
  const std::uint8_t* data = bytes.data() + 8 + header_bytes;
  struct Extent {
    std::uint64_t begin, end;
    std::string tensor;
  };
  std::vector<Extent> extents;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) throw DataFileError(name, "has a __metadata__ entry that is not a JSON object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string())
          throw DataFileError(name, "has the __metadata__ value " + detail::json_excerpt(v) + " for key '" + k +
                                        "', expected a string (safetensors metadata maps strings to strings)");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string tensor = "tensor '" + key + "'";
    if (!entry.is_object())
      throw DataFileError(name, "has the header entry " + detail::json_excerpt(entry) + " for " + tensor +
                                    ", expected an object with dtype, shape and data_offsets");
    for (const char* required : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(required))
        throw DataFileError(name, tensor + " has no \"" + required + "\" in its header entry");
    for (const auto& [k, v] : entry.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets")
        throw DataFileError(name, tensor + " has the unexpected key \"" + k +
                                      "\" in its header entry, expected only dtype, shape and data_offsets");
    if (!entry["dtype"].is_string())
      throw DataFileError(name, tensor + " has dtype " + detail::json_excerpt(entry["dtype"]) + ", expected a string such as \"F32\"");
    SafetensorsTensor t;
    t.dtype = detail::parse_dtype(entry["dtype"].get<std::string>(), key, name);
    const nlohmann::json& shape = entry["shape"];
    if (!shape.is_array()) throw DataFileError(name, tensor + " has shape " + detail::json_excerpt(shape) + ", expected an array");
    for (std::size_t i = 0; i < shape.size(); ++i)
      t.shape.push_back(detail::json_extent(shape[i], tensor + "'s shape entry " + std::to_string(i), name));
    const nlohmann::json& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2)
      throw DataFileError(name, tensor + " has data_offsets " + detail::json_excerpt(offsets) + ", expected [begin, end]");
    const std::uint64_t begin = detail::json_extent(offsets[0], tensor + "'s data_offsets begin", name);
    const std::uint64_t end = detail::json_extent(offsets[1], tensor + "'s data_offsets end", name);
    if (begin > end)
      throw DataFileError(name, tensor + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    "], expected begin <= end");
    if (end > data_bytes)
      throw DataFileError(name, tensor + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    "] past the end of the data region, which has " + std::to_string(data_bytes) +
                                    " bytes");
    std::uint64_t count = 0;
    const std::uint64_t element = safetensors_dtype_size(t.dtype);
    if (!detail::element_count(t.shape, count) || count > std::numeric_limits<std::uint64_t>::max() / element)
      throw DataFileError(name, tensor + " has shape " + shape_text(t.shape) + ", whose size overflows");
    if (end - begin != count * element)
      throw DataFileError(name, tensor + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    "] = " + std::to_string(end - begin) + " bytes, but its shape " +
                                    shape_text(t.shape) + " of " + safetensors_dtype_name(t.dtype) + " needs " +
                                    std::to_string(count * element) + " bytes");
    extents.push_back({begin, end, key});
    t.values.resize(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < t.values.size(); ++i)
      t.values[i] = detail::decode_element(data + begin + i * element, t.dtype);
    file.tensors.emplace(key, std::move(t));
  }

  // The tensors tile [0, data_bytes): sorted by begin (then end), each starts where the last ended.
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::uint64_t covered = 0;
  const Extent* previous = nullptr;
  for (const Extent& e : extents) {
    if (e.begin < covered)
      throw DataFileError(name, "tensor '" + e.tensor + "' (bytes [" + std::to_string(e.begin) + ", " +
                                    std::to_string(e.end) + ")) overlaps tensor '" + previous->tensor + "' (bytes [" +
                                    std::to_string(previous->begin) + ", " + std::to_string(previous->end) + "))");
    if (e.begin > covered)
      throw DataFileError(name, "has a hole in its data region: bytes [" + std::to_string(covered) + ", " +
                                    std::to_string(e.begin) + ") belong to no tensor (the next is '" + e.tensor + "')");
    covered = e.end;
    previous = &e;
  }
  if (covered != data_bytes)
    throw DataFileError(name, "has " + std::to_string(data_bytes - covered) +
                                  " bytes after its last tensor that belong to no tensor (data region of " +
                                  std::to_string(data_bytes) + " bytes, tensors end at " + std::to_string(covered) + ")");
  return file;
}

/// Reads and parses the safetensors file at `path`.
inline SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_file_bytes(path), path);
}

/// The bytes of `file` with every tensor stored as `dtype` (F32 or F64), laid out as the Python
/// `safetensors` package writes: tensors sorted by name, metadata first (keys sorted), compact
/// JSON, the header padded with spaces to a multiple of 8 bytes. Throws std::invalid_argument for
/// another dtype, a tensor whose values are not Π shape many, a tensor named __metadata__, a
/// name or metadata that is not UTF-8, or (F32) a finite value too large for binary32.
inline std::vector<std::uint8_t> serialize_safetensors(const SafetensorsFile& file, SafetensorsDtype dtype) {
  if (dtype != SafetensorsDtype::F32 && dtype != SafetensorsDtype::F64)
    throw std::invalid_argument(std::string("symflow: safetensors are written as F32 or F64, not ") +
                                safetensors_dtype_name(dtype));
  const std::uint64_t element = safetensors_dtype_size(dtype);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) {
    nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
    for (const auto& [k, v] : file.metadata) metadata[k] = v;
    header["__metadata__"] = std::move(metadata);
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    const std::string tensor = "symflow: tensor '" + name + "' of " + file.source;
    if (name == "__metadata__") throw std::invalid_argument(tensor + ": the name __metadata__ is reserved for metadata");
    std::uint64_t count = 0;
    if (!detail::element_count(t.shape, count) || count != t.values.size())
      throw std::invalid_argument(tensor + " has " + std::to_string(t.values.size()) + " values, but its shape " +
                                  shape_text(t.shape) + " needs " + std::to_string(count));
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = safetensors_dtype_name(dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + count * element};
    header[name] = std::move(entry);
    offset += count * element;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument("symflow: the tensor names or metadata of " + file.source +
                                " cannot be written as JSON: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::uint8_t> out;
  out.reserve(8 + text.size() + offset);
  detail::store_little_endian(text.size(), 8, out);
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& [name, t] : file.tensors)
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      const double v = t.values[i];
      if (dtype == SafetensorsDtype::F64) {
        detail::store_little_endian(std::bit_cast<std::uint64_t>(v), 8, out);
      } else {
        if (std::isfinite(v) && std::abs(v) >= float_overflow_threshold)
          throw std::invalid_argument("symflow: tensor '" + name + "' of " + file.source + " has the value " +
                                      std::to_string(v) + " at index " + std::to_string(i) +
                                      ", too large for F32 (write F64)");
        detail::store_little_endian(double_to_float_bits(v), 4, out);
      }
    }
  return out;
}

/// Writes `file` to `path` as serialize_safetensors lays it out.
inline void write_safetensors(const std::string& path, const SafetensorsFile& file, SafetensorsDtype dtype) {
  write_file_bytes(path, serialize_safetensors(file, dtype));
}

}  // namespace symflow
