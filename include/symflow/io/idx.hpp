// SPDX-License-Identifier: MIT
#pragma once
/// \file The IDX file format (LeCun's MNIST format, also used by Fashion-MNIST), validated.
///
/// An IDX file is: two zero bytes, an element-type byte (0x08 unsigned byte, 0x09 signed byte,
/// 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), a byte giving the number of dimensions
/// r ≥ 1, r big-endian uint32 dimensions, then the Π d_i elements in big-endian row-major order.
/// The parser checks every one of these facts and that the data is exactly as long as the
/// header says; it only ever reads inside the buffer it was given. Image files hold count × rows ×
/// columns unsigned bytes, label files count unsigned bytes.
///
/// Reading files (rather than buffers) decompresses gzip through zlib: including this header
/// requires linking ZLIB::ZLIB.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "symflow/core/config.hpp"
#include "symflow/io/data_file_error.hpp"
#include "symflow/io/gzip.hpp"

namespace symflow {

/// The element types an IDX header can declare (the value is the header's type byte).
enum class IdxType : std::uint8_t {
  unsigned_byte = 0x08,
  signed_byte = 0x09,
  int16 = 0x0B,
  int32 = 0x0C,
  float32 = 0x0D,
  float64 = 0x0E,
};

/// Bytes per element of `type`.
constexpr std::size_t idx_element_size(IdxType type) {
  switch (type) {
    case IdxType::unsigned_byte:
    case IdxType::signed_byte: return 1;
    case IdxType::int16: return 2;
    case IdxType::int32:
    case IdxType::float32: return 4;
    case IdxType::float64: return 8;
  }
  return 0;
}

/// A readable name for `type`, for messages.
inline std::string idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::unsigned_byte: return "unsigned byte";
    case IdxType::signed_byte: return "signed byte";
    case IdxType::int16: return "16-bit integer";
    case IdxType::int32: return "32-bit integer";
    case IdxType::float32: return "32-bit float";
    case IdxType::float64: return "64-bit float";
  }
  return "unknown";
}

/// A parsed IDX array: its element type, its dimensions and its elements, which value(i) decodes
/// (i in row-major order, i < size()).
class IdxArray {
 public:
  IdxArray(IdxType type, std::vector<std::uint32_t> dims, std::vector<std::uint8_t> bytes, std::size_t data_offset)
      : type_(type), dims_(std::move(dims)), bytes_(std::move(bytes)), offset_(data_offset) {}

  IdxType type() const { return type_; }
  /// The dimensions d_1, …, d_r as the header gives them.
  const std::vector<std::uint32_t>& dims() const { return dims_; }
  /// Number of elements Π d_i.
  std::size_t size() const { return (bytes_.size() - offset_) / idx_element_size(type_); }
  /// The raw big-endian element data (size() · element size bytes).
  std::span<const std::uint8_t> data() const { return std::span<const std::uint8_t>(bytes_).subspan(offset_); }

  /// Element i as a double (exact for every IDX type except 64-bit floats, which are returned as they are).
  double value(std::size_t i) const {
    if (i >= size())
      throw std::out_of_range("symflow: IDX element " + std::to_string(i) + " does not exist; the array has " +
                              std::to_string(size()) + " elements");
    const std::uint8_t* p = bytes_.data() + offset_ + i * idx_element_size(type_);
    switch (type_) {
      case IdxType::unsigned_byte: return p[0];
      case IdxType::signed_byte: return static_cast<std::int8_t>(p[0]);
      case IdxType::int16: return static_cast<std::int16_t>(static_cast<std::uint16_t>(big_endian(p, 2)));
      case IdxType::int32: return static_cast<std::int32_t>(static_cast<std::uint32_t>(big_endian(p, 4)));
      case IdxType::float32: {
        const auto bits = static_cast<std::uint32_t>(big_endian(p, 4));
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
      }
      case IdxType::float64: {
        const std::uint64_t bits = big_endian(p, 8);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
      }
    }
    return 0.0;
  }

 private:
  static std::uint64_t big_endian(const std::uint8_t* p, int n) {
    std::uint64_t v = 0;
    for (int k = 0; k < n; ++k) v = (v << 8) | p[k];
    return v;
  }

  IdxType type_;
  std::vector<std::uint32_t> dims_;
  std::vector<std::uint8_t> bytes_;
  std::size_t offset_;
};

/// Parses the IDX array in `bytes` (not compressed). Throws DataFileError naming `name` when the
/// magic number, the element type or the number of dimensions is invalid, the header is cut short,
/// the size overflows, or the data is shorter or longer than the dimensions require.
inline IdxArray parse_idx(std::vector<std::uint8_t> bytes, const std::string& name) {
  const std::size_t n = bytes.size();
  if (n < 4)
    throw DataFileError(name, "is too short for an IDX header: " + std::to_string(n) + " bytes, need at least 4");
  if (bytes[0] != 0 || bytes[1] != 0) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "%02x %02x %02x %02x", bytes[0], bytes[1], bytes[2], bytes[3]);
    throw DataFileError(name, std::string("is not an IDX file: its magic number ") + magic +
                                  " does not start with two zero bytes");
  }
  const std::uint8_t type_byte = bytes[2];
  const auto type = static_cast<IdxType>(type_byte);
  if (idx_element_size(type) == 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", type_byte);
    throw DataFileError(name, std::string("declares the unknown IDX element type ") + hex +
                                  " (known: 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)");
  }
  const std::size_t rank = bytes[3];
  if (rank == 0) throw DataFileError(name, "declares 0 dimensions, expected at least 1");
  const std::size_t header = 4 + 4 * rank;
  if (n < header)
    throw DataFileError(name, "has a truncated IDX header: " + std::to_string(rank) + " dimensions need " +
                                  std::to_string(header) + " header bytes, the file has " + std::to_string(n));
  std::vector<std::uint32_t> dims(rank);
  std::size_t count = 1;
  bool overflow = false;
  std::string shape;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * i;
    dims[i] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    shape += (i ? " x " : "") + std::to_string(dims[i]);
    if (dims[i] != 0 && count > SIZE_MAX / dims[i]) overflow = true;
    if (!overflow) count *= dims[i];
  }
  const std::size_t element = idx_element_size(type);
  if (overflow || count > SIZE_MAX / element)
    throw DataFileError(name, "declares dimensions " + shape + " whose size overflows");
  const std::size_t expected = count * element;
  const std::size_t actual = n - header;
  if (actual != expected)
    throw DataFileError(name, "has " + std::to_string(actual) + " data bytes, but its header's dimensions " + shape +
                                  " of " + idx_type_name(type) + "s need " + std::to_string(expected) +
                                  (actual < expected ? " (the file is truncated)" : " (extra bytes at the end)"));
  return IdxArray(type, std::move(dims), std::move(bytes), header);
}

/// Reads and parses an IDX file, gzip-compressed (as distributed) or not.
inline IdxArray read_idx(const std::string& path, std::size_t max_bytes = default_max_decompressed_bytes) {
  return parse_idx(read_maybe_gzip_file(path, max_bytes), path);
}

/// Images as columns: pixels ∈ R^{(rows·columns) × count}, column j the j-th image in row-major
/// pixel order, values scaled from bytes 0…255 to [0, 1].
template <class Scalar>
struct IdxImages {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> pixels;
  Index rows = 0;
  Index columns = 0;
  Index count() const { return pixels.cols(); }
};

/// Images from a parsed IDX array: unsigned bytes of shape count × rows × columns, none of them 0.
template <class Scalar>
IdxImages<Scalar> idx_images(const IdxArray& array, const std::string& name) {
  if (array.type() != IdxType::unsigned_byte)
    throw DataFileError(name, "holds " + idx_type_name(array.type()) + "s, expected unsigned bytes for images");
  const auto& d = array.dims();
  if (d.size() != 3)
    throw DataFileError(name, "has " + std::to_string(d.size()) + " dimensions, expected 3 for images (count x rows x columns)");
  if (d[0] == 0 || d[1] == 0 || d[2] == 0)
    throw DataFileError(name, "has image dimensions " + std::to_string(d[0]) + " x " + std::to_string(d[1]) + " x " +
                                  std::to_string(d[2]) + ", expected no zero dimension");
  IdxImages<Scalar> images;
  images.rows = static_cast<Index>(d[1]);
  images.columns = static_cast<Index>(d[2]);
  const Index pixels = images.rows * images.columns;
  const Index count = static_cast<Index>(d[0]);
  images.pixels.resize(pixels, count);
  const std::span<const std::uint8_t> data = array.data();
  // byte / 255, correctly rounded (a precomputed 1/255 would round twice).
  for (Index j = 0; j < count; ++j)
    for (Index i = 0; i < pixels; ++i)
      images.pixels(i, j) = Scalar(data[static_cast<std::size_t>(j * pixels + i)]) / Scalar(255);
  return images;
}

/// Labels from a parsed IDX array: a vector of unsigned bytes, each below `classes`.
inline std::vector<int> idx_labels(const IdxArray& array, const std::string& name, int classes) {
  if (classes <= 0 || classes > 256)
    throw std::invalid_argument("symflow: the number of classes is " + std::to_string(classes) +
                                ", expected 1 to 256 for byte labels");
  if (array.type() != IdxType::unsigned_byte)
    throw DataFileError(name, "holds " + idx_type_name(array.type()) + "s, expected unsigned bytes for labels");
  if (array.dims().size() != 1)
    throw DataFileError(name, "has " + std::to_string(array.dims().size()) + " dimensions, expected 1 for labels");
  const std::span<const std::uint8_t> data = array.data();
  std::vector<int> labels(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] >= classes)
      throw DataFileError(name, "has label " + std::to_string(data[i]) + " at index " + std::to_string(i) +
                                    ", outside the classes 0 to " + std::to_string(classes - 1));
    labels[i] = data[i];
  }
  return labels;
}

/// Images with one label each.
template <class Scalar>
struct LabelledImages {
  IdxImages<Scalar> images;
  std::vector<int> labels;
  int classes = 0;
  Index count() const { return images.count(); }
};

/// Pairs images and labels; throws DataFileError unless both have the same count.
template <class Scalar>
LabelledImages<Scalar> labelled_images(IdxImages<Scalar> images, std::vector<int> labels, int classes,
                                       const std::string& images_name, const std::string& labels_name) {
  if (static_cast<std::size_t>(images.count()) != labels.size())
    throw DataFileError(labels_name, "has " + std::to_string(labels.size()) + " labels, but " + images_name + " has " +
                                         std::to_string(images.count()) + " images");
  return LabelledImages<Scalar>{std::move(images), std::move(labels), classes};
}

/// Reads an image file and a label file (each gzip-compressed or not) and validates them together.
template <class Scalar>
LabelledImages<Scalar> read_idx_labelled_images(const std::string& images_path, const std::string& labels_path,
                                                int classes) {
  IdxImages<Scalar> images = idx_images<Scalar>(read_idx(images_path), images_path);
  std::vector<int> labels = idx_labels(read_idx(labels_path), labels_path, classes);
  return labelled_images(std::move(images), std::move(labels), classes, images_path, labels_path);
}

}  // namespace symflow
