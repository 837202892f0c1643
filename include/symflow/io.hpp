// SPDX-License-Identifier: MIT
#pragma once
/// \file Data input: gzip through zlib, the IDX format, Fashion-MNIST.
///
/// This module needs zlib at link time (CMake: find_package(ZLIB) and
/// target_link_libraries(app PRIVATE ZLIB::ZLIB)), so symflow/symflow.hpp does not include it.
/// PyTorch's weights (safetensors) are read by symflow/io/state_dict.hpp, which needs nlohmann/json
/// instead (CMake: symflow::safetensors) and is not included here either.
#include "symflow/io/data_file_error.hpp"
#include "symflow/io/gzip.hpp"
#include "symflow/io/idx.hpp"
#include "symflow/io/fashion_mnist.hpp"
