// SPDX-License-Identifier: MIT
#pragma once
/// \file A model's θ to and from PyTorch's state dict (tensors by name), stored as safetensors.
///
/// Names. A layer with weights is a PyTorch module whose parameters are "<module>.weight" and
/// "<module>.bias". By default the modules are numbered as in PyTorch's nn.Sequential:
///  - Sequential: layer I of the list (1-based, activations and normalisations included) is module
///    I − 1, except that PyTorch needs an nn.Flatten before an nn.Linear that reads an image, and
///    the Flatten takes an index: every Dense whose input is an image (after a Conv2d, or from an
///    Input<C, H, W> with H·W > 1) shifts itself and every later layer by one. The layers of a
///    Residual at module index k are "k.0", "k.1", … (a Residual written as an nn.Sequential
///    subclass whose forward adds its input).
///  - Mlp, BiasedMlp, TwoLayer: nn.Sequential(Linear, σ, Linear, σ, …, Linear), so W_i is module
///    2(i − 1): "0.weight", "2.weight", ….
/// StateDictOptions::modules names the modules instead, one per layer with weights, in θ order.
///
/// Layouts. Dense: W ∈ R^{out × in} is column-major in θ and row-major (out, in) in PyTorch's
/// Linear.weight: it is transposed on the way in and out. Conv2d: θ holds w in PyTorch's
/// (out, in, kh, kw) order already (symflow/model/layers/conv2d.hpp). Biases: (out).
///
/// Checks. Every weight and bias the model has must be in the file with PyTorch's shape (a
/// DataFileError names the tensor, the layer and both shapes); tensors that no layer reads are an
/// error unless StateDictOptions::allow_unused (unused_tensors lists them). symflow's LayerNorm and
/// BatchNorm have no affine part: a weight or bias under a normalisation module's default name is
/// refused with a message saying to build PyTorch's layer with elementwise_affine=False /
/// affine=False.
///
/// Needs nlohmann/json through symflow/io/safetensors.hpp (CMake: symflow::safetensors).

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "symflow/io/safetensors.hpp"
#include "symflow/model/mlp.hpp"
#include "symflow/model/sequential.hpp"

namespace symflow {

/// How a model's layers are named in a state dict, and what to do with tensors no layer reads.
struct StateDictOptions {
  /// One PyTorch module name per layer with weights (Dense, Conv2d), in θ order: layer k's tensors
  /// are "<modules[k]>.weight" and "<modules[k]>.bias". Empty: nn.Sequential's indices (see above).
  std::vector<std::string> modules;
  /// Tensors that no layer reads: an error (false) or ignored (true).
  bool allow_unused = false;
};

namespace detail {

/// One symflow layer as a PyTorch module: its name, and for a layer with weights where they sit in
/// θ and the shape PyTorch gives them.
struct TorchModule {
  enum class Kind { dense, conv2d, layer_norm, batch_norm };
  Kind kind = Kind::dense;
  std::string layer;  // symflow's name for it, for messages
  std::string name;   // PyTorch's module name
  Index weight_offset = 0;
  std::vector<std::uint64_t> weight_shape;  // (out, in) or (out, in, kh, kw)
  bool has_bias = false;
  Index bias_offset = 0;
  bool has_weights() const { return kind == Kind::dense || kind == Kind::conv2d; }
};

inline std::uint64_t extent(Index n) { return static_cast<std::uint64_t>(n); }

/// The modules of a chain of layers (a Sequential's, or a Residual's inside one), in θ order.
template <class Chain>
void collect_torch_modules(const Chain& chain, Index base, const std::string& prefix, const std::string& numbering,
                           bool image, std::vector<TorchModule>& out) {
  int index = 0;  // module index in PyTorch's nn.Sequential
  for_each_index<1, Chain::num_layers>([&]<int I>() {
    using L = typename Chain::template Layer<I>;
    const L& layer = chain.template layer<I>();
    const Index offset = base + chain.offset(I);
    const std::string what = "symflow layer " + numbering + std::to_string(I);
    using Kind = TorchModule::Kind;
    if constexpr (requires { L::is_dense; }) {
      if (image) ++index;  // the nn.Flatten before this nn.Linear
      image = false;
      const Index in = layer.in_shape().size(), units = layer.out_units();
      out.push_back({Kind::dense, what + " (Dense)", prefix + std::to_string(index), offset,
                     {extent(units), extent(in)}, L::has_bias, offset + units * in});
    } else if constexpr (requires { requires L::is_conv2d; }) {
      image = true;
      const Index units = layer.out_units();
      out.push_back({Kind::conv2d, what + " (Conv2d)", prefix + std::to_string(index), offset,
                     {extent(units), extent(layer.in_units()), extent(layer.kernel()), extent(layer.kernel())}, L::has_bias,
                     offset + units * layer.patch_size()});
    } else if constexpr (requires { L::is_normalization; }) {
      const bool layer_norm = std::is_same_v<typename L::Spec, LayerNorm>;
      out.push_back({layer_norm ? Kind::layer_norm : Kind::batch_norm,
                     what + (layer_norm ? " (LayerNorm)" : " (BatchNorm)"), prefix + std::to_string(index), offset,
                     {}, false, offset});
    } else if constexpr (requires { L::is_residual; }) {
      collect_torch_modules(layer.inner(), offset, prefix + std::to_string(index) + ".", numbering + std::to_string(I) + ".",
                            image, out);
    }
    ++index;
  });
}

/// The modules of a model, named by default or by options.modules.
template <class Model>
std::vector<TorchModule> torch_modules(const Model& net, const StateDictOptions& options) {
  std::vector<TorchModule> modules;
  if constexpr (SequentialModel<Model>) {
    const Shape in = net.input_shape();
    collect_torch_modules(net.chain(), 0, "", "", in.height * in.width > 1, modules);
  } else if constexpr (MlpModel<Model>) {
    for (int i = 1; i <= Model::depth; ++i)
      modules.push_back({TorchModule::Kind::dense, "layer " + std::to_string(i) + " (W_" + std::to_string(i) + ") of the Mlp",
                         std::to_string(2 * (i - 1)), net.weight_offset(i),
                         {extent(net.width(i)), extent(net.width(i - 1))}, Model::has_bias, net.bias_offset(i)});
  } else {
    static_assert(SequentialModel<Model> || MlpModel<Model>,
                  "symflow: state dicts map to a symflow::Sequential, Mlp, BiasedMlp or TwoLayer");
  }
  if (!options.modules.empty()) {
    std::size_t weighted = 0;
    for (const auto& m : modules) weighted += m.has_weights();
    if (options.modules.size() != weighted)
      throw std::invalid_argument("symflow: StateDictOptions::modules names " + std::to_string(options.modules.size()) +
                                  " modules, but the model has " + std::to_string(weighted) +
                                  " layers with weights (Dense, Conv2d)");
    std::size_t k = 0;
    for (auto& m : modules) m.name = m.has_weights() ? options.modules[k++] : std::string();
  }
  return modules;
}

/// "'a', 'b', …" for the first few names.
inline std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 12; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > 12) s += ", … (" + std::to_string(names.size()) + " in all)";
  return s.empty() ? "none" : s;
}

/// The tensors of `file` that none of `modules` reads.
inline std::vector<std::string> unused_names(const std::vector<TorchModule>& modules, const SafetensorsFile& file) {
  std::set<std::string> read;
  for (const auto& m : modules)
    if (m.has_weights()) {
      read.insert(m.name + ".weight");
      if (m.has_bias) read.insert(m.name + ".bias");
    }
  std::vector<std::string> unused;
  for (const auto& [name, t] : file.tensors)
    if (!read.count(name)) unused.push_back(name);
  return unused;
}

/// Why a tensor may be in the file although no layer reads it, or "".
inline std::string unused_hint(const std::string& name, const std::vector<TorchModule>& modules) {
  for (const auto& m : modules)
    if (m.has_weights() && !m.has_bias && name == m.name + ".bias")
      return "'" + name + "' is a bias, but " + m.layer +
             " has none (symflow: Dense<n, WithBias>, BiasedMlp; PyTorch: bias=False)";
  for (const char* stat : {".running_mean", ".running_var"})
    if (name.size() > std::string(stat).size() && name.ends_with(stat))
      return "'" + name + "' is a running statistic: symflow's BatchNorm uses batch statistics (PyTorch's training "
             "mode; build it with track_running_stats=False)";
  return "";
}

/// θ (in double) from the tensors of `file`, for the model whose modules are `modules`, d = size.
inline std::vector<double> params_from_modules(const std::vector<TorchModule>& modules, Index size,
                                               const SafetensorsFile& file, const StateDictOptions& options) {
  std::vector<double> theta(static_cast<std::size_t>(size), 0.0);
  const auto tensor = [&](const TorchModule& m, const char* role,
                          const std::vector<std::uint64_t>& shape) -> const SafetensorsTensor& {
    const std::string name = m.name + "." + role;
    const auto it = file.tensors.find(name);
    if (it == file.tensors.end()) {
      std::vector<std::string> names;
      for (const auto& [n, t] : file.tensors) names.push_back(n);
      throw DataFileError(file.source, "has no tensor '" + name + "' for the " + role + " of " + m.layer +
                                           " (shape " + shape_text(shape) + "); its tensors are " + name_list(names));
    }
    if (it->second.shape != shape)
      throw DataFileError(file.source, "tensor '" + name + "' has shape " + shape_text(it->second.shape) + ", but the " +
                                           role + " of " + m.layer + " has shape " + shape_text(shape));
    return it->second;
  };
  for (const auto& m : modules) {
    if (!m.has_weights()) {
      if (m.name.empty()) continue;
      for (const char* role : {".weight", ".bias"})
        if (file.tensors.count(m.name + role))
          throw DataFileError(file.source,
                              "has the tensor '" + m.name + role + "', an affine parameter of the normalisation " +
                                  m.layer + "; symflow's normalisation layers have no affine part: build the PyTorch layer "
                                  "with " + (m.kind == TorchModule::Kind::layer_norm ? "LayerNorm(…, elementwise_affine=False)"
                                                                                     : "BatchNorm1d/2d(…, affine=False)"));
      continue;
    }
    const std::vector<double>& w = tensor(m, "weight", m.weight_shape).values;
    const std::size_t out = m.weight_shape[0], per_unit = w.size() / (out ? out : 1);
    const auto at = static_cast<std::size_t>(m.weight_offset);
    if (m.kind == TorchModule::Kind::dense) {
      for (std::size_t o = 0; o < out; ++o)  // row-major (out, in) → column-major
        for (std::size_t i = 0; i < per_unit; ++i) theta[at + i * out + o] = w[o * per_unit + i];
    } else {
      std::copy(w.begin(), w.end(), theta.begin() + static_cast<std::ptrdiff_t>(at));
    }
    if (m.has_bias) {
      const std::vector<double>& b = tensor(m, "bias", {m.weight_shape[0]}).values;
      std::copy(b.begin(), b.end(), theta.begin() + static_cast<std::ptrdiff_t>(m.bias_offset));
    }
  }
  const std::vector<std::string> unused = unused_names(modules, file);
  if (!unused.empty() && !options.allow_unused) {
    std::string hints;
    for (const auto& name : unused)
      if (const std::string h = unused_hint(name, modules); !h.empty()) hints += "; " + h;
    throw DataFileError(file.source, "has tensors that no layer of the model reads: " + name_list(unused) + hints +
                                         " (StateDictOptions::allow_unused ignores them)");
  }
  return theta;
}

/// The state dict of θ (in double) for the model whose modules are `modules`.
inline SafetensorsFile state_dict_from_modules(const std::vector<TorchModule>& modules, const std::vector<double>& theta) {
  SafetensorsFile file;
  file.source = "state dict";
  const auto add = [&](const std::string& name, std::vector<std::uint64_t> shape, std::vector<double> values) {
    if (!file.tensors.emplace(name, SafetensorsTensor{SafetensorsDtype::F64, std::move(shape), std::move(values)}).second)
      throw std::invalid_argument("symflow: two layers write the tensor '" + name + "'; give each its own module name");
  };
  for (const auto& m : modules) {
    if (!m.has_weights()) continue;
    std::uint64_t count = 0;
    element_count(m.weight_shape, count);
    const std::size_t out = m.weight_shape[0], per_unit = count / (out ? out : 1);
    const auto at = static_cast<std::size_t>(m.weight_offset);
    std::vector<double> w(count);
    if (m.kind == TorchModule::Kind::dense) {
      for (std::size_t o = 0; o < out; ++o)  // column-major → row-major (out, in)
        for (std::size_t i = 0; i < per_unit; ++i) w[o * per_unit + i] = theta[at + i * out + o];
    } else {
      std::copy_n(theta.begin() + static_cast<std::ptrdiff_t>(at), count, w.begin());
    }
    add(m.name + ".weight", m.weight_shape, std::move(w));
    if (m.has_bias) {
      const auto b = theta.begin() + static_cast<std::ptrdiff_t>(m.bias_offset);
      add(m.name + ".bias", {m.weight_shape[0]}, std::vector<double>(b, b + static_cast<std::ptrdiff_t>(out)));
    }
  }
  return file;
}

}  // namespace detail

/// θ of `net` from a state dict (Sequential, Mlp, BiasedMlp, TwoLayer), each value converted to
/// the model's scalar (exact into double). Throws DataFileError for a missing tensor, a wrong shape,
/// an affine normalisation parameter or (unless options.allow_unused) a tensor no layer reads.
template <class Model>
typename Model::Params params_from_state_dict(const Model& net, const SafetensorsFile& file,
                                              const StateDictOptions& options = {}) {
  const std::vector<double> values =
      detail::params_from_modules(detail::torch_modules(net, options), net.size(), file, options);
  typename Model::Params theta = net.zero_params();
  for (Index i = 0; i < theta.size(); ++i) theta[i] = typename Model::Scalar(values[static_cast<std::size_t>(i)]);
  return theta;
}

/// The tensors of `file` that no layer of `net` reads (names sorted).
template <class Model>
std::vector<std::string> unused_tensors(const Model& net, const SafetensorsFile& file, const StateDictOptions& options = {}) {
  return detail::unused_names(detail::torch_modules(net, options), file);
}

/// θ of `net` as a state dict PyTorch's load_state_dict takes: "<module>.weight" as (out, in) or
/// (out, in, kh, kw), "<module>.bias" as (out), values in double.
template <class Model, class Derived>
SafetensorsFile state_dict_from_params(const Model& net, const Eigen::MatrixBase<Derived>& theta,
                                       const StateDictOptions& options = {}) {
  net.check_params(theta);
  std::vector<double> values(static_cast<std::size_t>(theta.size()));
  for (Index i = 0; i < theta.size(); ++i) values[static_cast<std::size_t>(i)] = static_cast<double>(theta[i]);
  return detail::state_dict_from_modules(detail::torch_modules(net, options), values);
}

/// θ of `net` from the safetensors file at `path` (see params_from_state_dict).
template <class Model>
typename Model::Params read_state_dict(const Model& net, const std::string& path, const StateDictOptions& options = {}) {
  return params_from_state_dict(net, read_safetensors(path), options);
}

/// Writes θ of `net` to `path` as a safetensors state dict with elements of type `dtype` (F32 or F64).
template <class Model, class Derived>
void write_state_dict(const Model& net, const Eigen::MatrixBase<Derived>& theta, const std::string& path,
                      SafetensorsDtype dtype, const StateDictOptions& options = {}) {
  SafetensorsFile file = state_dict_from_params(net, theta, options);
  file.source = path;
  write_safetensors(path, file, dtype);
}

}  // namespace symflow
