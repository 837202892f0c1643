// libFuzzer target for the safetensors reader and the state-dict mapping: any byte string must be
// either read or refused with symflow::DataFileError. What is read must write back (F64) to a file
// that reads as the same tensors bit for bit, and must map onto a model's θ or be refused with
// DataFileError; θ must write back to the tensors it was read from. Anything else (a crash,
// another exception, a read outside a buffer under AddressSanitizer, undefined behaviour under
// UBSan) is a bug.
#include <symflow/io/state_dict.hpp>
#include <symflow/model/activations.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

namespace sf = symflow;

// Conv2d → ReLU → (nn.Flatten) → Linear: modules "0" and "3"; and nn.Sequential(Linear, ReLU, Linear).
using Conv = sf::Sequential<double, sf::Input<1, 3, 3>, sf::Conv2d<2, 2>, sf::ReLU, sf::Dense<2, sf::WithBias>>;
using Block = sf::TwoLayer<double, sf::ReLU, 2, 2, 1>;

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return false;
  return true;
}

bool same_tensors(const sf::SafetensorsFile& a, const sf::SafetensorsFile& b) {
  if (a.tensors.size() != b.tensors.size() || a.metadata != b.metadata) return false;
  for (auto i = a.tensors.begin(), j = b.tensors.begin(); i != a.tensors.end(); ++i, ++j)
    if (i->first != j->first || i->second.shape != j->second.shape || !same_bits(i->second.values, j->second.values))
      return false;
  return true;
}

template <class Model>
void map_onto(const Model& net, const sf::SafetensorsFile& file, bool allow_unused) {
  const sf::StateDictOptions options{{}, allow_unused};
  try {
    const auto theta = sf::params_from_state_dict(net, file, options);
    // Every tensor the model reads comes back as it was.
    const sf::SafetensorsFile back = sf::state_dict_from_params(net, theta, options);
    for (const auto& [name, t] : back.tensors)
      if (!same_bits(t.values, file.tensors.at(name).values)) __builtin_trap();
    if (!allow_unused && back.tensors.size() != file.tensors.size()) __builtin_trap();
  } catch (const sf::DataFileError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sf::SafetensorsFile file;
  try {
    file = sf::parse_safetensors(std::vector<std::uint8_t>(data, data + size), "input");
  } catch (const sf::DataFileError&) {
    return 0;  // a clear rejection is the expected outcome for a malformed file
  }
  // Written as F64 (exact for every dtype read) and read again: the same tensors, bit for bit.
  const std::vector<std::uint8_t> bytes = sf::serialize_safetensors(file, sf::SafetensorsDtype::F64);
  if (bytes.size() % 8 != 0 || !same_tensors(sf::parse_safetensors(bytes, "written"), file)) __builtin_trap();
  for (bool allow_unused : {false, true}) {
    map_onto(Conv{}, file, allow_unused);
    map_onto(Block{}, file, allow_unused);
  }
  return 0;
}
