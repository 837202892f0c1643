// SPDX-License-Identifier: MIT
#pragma once
/// \file Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28 × 28 grey-scale images of 10 kinds of
/// clothing, 60000 for training and 10000 for testing, as the four IDX files
/// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Debian's package dataset-fashion-mnist
/// installs them under /usr/share/datasets/fashion-mnist/.

#include <array>
#include <filesystem>
#include <string>

#include "symflow/io/idx.hpp"

namespace symflow {

/// Where Debian's dataset-fashion-mnist package installs the files.
inline const std::string fashion_mnist_default_directory = "/usr/share/datasets/fashion-mnist";

/// Number of classes and their names, by label.
inline constexpr int fashion_mnist_classes = 10;
inline const std::array<std::string, 10> fashion_mnist_class_names = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// The two parts of the data set.
enum class FashionMnistSplit { train, test };

namespace detail {
/// `directory/stem.gz` if it exists, else `directory/stem` if that exists; throws DataFileError
/// naming both otherwise.
inline std::string find_data_file(const std::string& directory, const std::string& stem) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(directory) / (stem + ".gz");
  const fs::path plain = fs::path(directory) / stem;
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(plain, ec)) return plain.string();
  throw DataFileError(gz.string(), "does not exist (nor does " + plain.string() +
                                       "); install Debian's dataset-fashion-mnist or pass the data directory");
}
}  // namespace detail

/// Reads one split of Fashion-MNIST from `directory`: 784 × count pixels in [0, 1] (row-major
/// 28 × 28 images as columns) and labels 0…9. Every file is validated (see symflow/io/idx.hpp).
template <class Scalar = double>
LabelledImages<Scalar> read_fashion_mnist(FashionMnistSplit split,
                                          const std::string& directory = fashion_mnist_default_directory) {
  const std::string prefix = split == FashionMnistSplit::train ? "train" : "t10k";
  const std::string images = detail::find_data_file(directory, prefix + "-images-idx3-ubyte");
  const std::string labels = detail::find_data_file(directory, prefix + "-labels-idx1-ubyte");
  return read_idx_labelled_images<Scalar>(images, labels, fashion_mnist_classes);
}

}  // namespace symflow
