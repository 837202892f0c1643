// Specification of PyTorch weights in and out: the safetensors reader and writer (every fact of the
// format checked, files laid out as the Python package lays them out), exact half and bfloat16
// decoding, the mapping of state-dict names and layouts onto θ, and symflow's forward pass against
// PyTorch's on the fixtures that tests/python/make_torch_fixture.py wrote.
#include "support.hpp"

#include <symflow/io/state_dict.hpp>

#include <bit>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace sf = symflow;
using sf::test::rng_for;
using Bytes = std::vector<std::uint8_t>;
using sf::SafetensorsDtype;

namespace {

// The test models: PyTorch's fixtures, and a few more for the names.
using TorchMlp = sf::Sequential<double, sf::Input<4>, sf::Dense<6, sf::WithBias>, sf::ReLU, sf::Dense<5>, sf::Tanh,
                                sf::Dense<3, sf::WithBias>>;
using TorchConv = sf::Sequential<double, sf::Input<2, 5, 5>, sf::Conv2d<3, 3, 2, 1>, sf::ReLU, sf::Dense<4, sf::WithBias>>;
// Conv → BatchNorm → ReLU → conv → ReLU → dense → LayerNorm → tanh → dense, ε = 1e-5 as in PyTorch.
using TorchNorm = sf::Sequential<double, sf::Input<2, 5, 5>, sf::Conv2d<4, 3, 1, 1>, sf::BatchNorm, sf::ReLU, sf::Conv2d<3, 3, 2, 1>,
                                 sf::ReLU, sf::Dense<6, sf::WithBias>, sf::LayerNorm, sf::Tanh, sf::Dense<4, sf::WithBias>>;
using NormResidual = sf::Sequential<double, sf::Input<4>, sf::Dense<6>, sf::LayerNorm, sf::Residual<sf::Dense<6>, sf::ReLU>,
                                    sf::Dense<3, sf::WithBias>>;
using Biased = sf::BiasedMlp<double, sf::Tanh, 4, 6, 3>;
using Block = sf::TwoLayer<double, sf::ReLU, 3, 4, 2>;

std::string data_file(const std::string& name) { return std::string(SYMFLOW_SOURCE_DIR) + "/tests/data/" + name; }

// A scratch path of its own for each test case (ctest runs them as parallel processes).
std::string scratch(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("symflow_test_safetensors_" + std::to_string(::getpid()) + "_" + name + ".safetensors")).string();
}

// A file with header length `length`, header `text` and `data` zero bytes after it.
Bytes file_with(const std::string& text, std::size_t data, std::uint64_t length) {
  Bytes b;
  for (int k = 0; k < 8; ++k) b.push_back(static_cast<std::uint8_t>(length >> (8 * k)));
  b.insert(b.end(), text.begin(), text.end());
  b.resize(b.size() + data, 0);
  return b;
}
Bytes file_with(const std::string& text, std::size_t data) { return file_with(text, data, text.size()); }

// The message of the DataFileError that parsing `bytes` throws ("" if it throws none).
std::string parse_error(const Bytes& bytes) {
  try {
    sf::parse_safetensors(bytes, "broken.safetensors");
  } catch (const sf::DataFileError& e) {
    CHECK(e.file() == "broken.safetensors");
    return e.what();
  }
  return "";
}

// Reference value of a binary float pattern from its definition, in real arithmetic: ldexp of
// integers, independent of the bit-level decoder.
double reference_value(std::uint32_t bits, int exponent_bits, int fraction_bits) {
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const std::uint32_t fraction = bits & ((1u << fraction_bits) - 1);
  const std::uint32_t exponent = (bits >> fraction_bits) & ((1u << exponent_bits) - 1);
  const double sign = (bits >> (exponent_bits + fraction_bits)) & 1 ? -1.0 : 1.0;
  if (exponent == (1u << exponent_bits) - 1)
    return fraction == 0 ? sign * std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(double(fraction), 1 - bias - fraction_bits);
  return sign * std::ldexp(double((1u << fraction_bits) + fraction), int(exponent) - bias - fraction_bits);
}

template <class Decode>
void check_all_patterns(Decode decode, int exponent_bits, int fraction_bits) {
  int mismatches = 0, nans = 0;
  for (std::uint32_t bits = 0; bits < (1u << 16); ++bits) {
    const double got = decode(static_cast<std::uint16_t>(bits));
    const double want = reference_value(bits, exponent_bits, fraction_bits);
    const bool sign = (bits >> 15) & 1;
    if (std::isnan(want)) {
      ++nans;
      // NaN: sign kept, payload moved into the top of double's fraction.
      const std::uint64_t fraction = std::bit_cast<std::uint64_t>(got) & ((std::uint64_t{1} << 52) - 1);
      const std::uint64_t payload = bits & ((1u << fraction_bits) - 1);
      if (!std::isnan(got) || std::signbit(got) != sign || fraction != payload << (52 - fraction_bits)) ++mismatches;
    } else if (!(got == want && std::signbit(got) == std::signbit(want))) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
  CHECK(nans == 2 * ((1 << fraction_bits) - 1));
}

template <class Derived>
double worst_relative(const Eigen::MatrixBase<Derived>& got, const Eigen::MatrixXd& want) {
  return (got - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff();
}

// A tensor of `file` as a matrix with samples as columns: (N, …) row-major → (…) × N.
Eigen::MatrixXd samples_as_columns(const sf::SafetensorsFile& file, const std::string& name) {
  const auto& t = file.tensors.at(name);
  const sf::Index n = static_cast<sf::Index>(t.shape.at(0));
  const sf::Index per_sample = static_cast<sf::Index>(t.values.size()) / n;
  return Eigen::Map<const Eigen::MatrixXd>(t.values.data(), per_sample, n);
}

}  // namespace

TEST_CASE("half and bfloat16 decode exactly: all 65536 patterns each against their definition", "[safetensors][dtype]") {
  check_all_patterns([](std::uint16_t b) { return sf::half_to_double(b); }, 5, 10);
  check_all_patterns([](std::uint16_t b) { return sf::bfloat16_to_double(b); }, 8, 7);
  // Landmarks: 1, the largest half, the smallest half subnormal, bfloat16 as binary32's top half.
  CHECK(sf::half_to_double(0x3C00) == 1.0);
  CHECK(sf::half_to_double(0x7BFF) == 65504.0);
  CHECK(sf::half_to_double(0x0001) == std::ldexp(1.0, -24));
  CHECK(sf::half_to_double(0xFC00) == -std::numeric_limits<double>::infinity());
  for (std::uint32_t bits = 0; bits < (1u << 16); ++bits) {
    const float f = std::bit_cast<float>(bits << 16);
    if (!std::isnan(f) && sf::bfloat16_to_double(static_cast<std::uint16_t>(bits)) != double(f)) FAIL(bits);
  }
}

TEST_CASE("binary32 decodes exactly and rounds to nearest on the way back, NaN payloads kept", "[safetensors][dtype]") {
  auto rng = rng_for(0);
  std::uniform_int_distribution<std::uint32_t> pattern;
  int mismatches = 0;
  for (int k = 0; k < 100000; ++k) {
    const std::uint32_t bits = k < 64 ? (0x7F7FFFE0u + static_cast<std::uint32_t>(k)) ^ (k % 2 ? 0x80000000u : 0u) : pattern(rng);
    const double got = sf::float_bits_to_double(bits);
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f) ? !std::isnan(got) : got != double(f)) ++mismatches;
    if (sf::double_to_float_bits(got) != bits) ++mismatches;  // round trip, NaNs bit for bit
  }
  CHECK(mismatches == 0);
  CHECK(sf::float_bits_to_double(0x00000001u) == std::ldexp(1.0, -149));
  CHECK(sf::double_to_float_bits(1.0 + std::ldexp(1.0, -24)) == 0x3F800000u);                       // tie → even
  CHECK(sf::double_to_float_bits(1.0 + std::ldexp(1.0, -24) + std::ldexp(1.0, -50)) == 0x3F800001u);  // above the tie
  CHECK(sf::double_to_float_bits(std::nextafter(sf::float_overflow_threshold, 0.0)) == 0x7F7FFFFFu);
  CHECK(sf::double_to_float_bits(sf::float_overflow_threshold) == 0x7F800000u);
}

TEST_CASE("files are laid out as the Python safetensors package lays them out", "[safetensors][write]") {
  // The reference implementation's own serialisation tests: one F32 tensor of shape [1, 2, 3].
  sf::SafetensorsFile file;
  file.tensors["attn.0"] = {SafetensorsDtype::F32, {1, 2, 3}, {0, 1, 2, 3, 4, 5}};
  const Bytes bytes = sf::serialize_safetensors(file, SafetensorsDtype::F32);
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  REQUIRE(bytes.size() == 8 + 64 + 24);
  CHECK(bytes[0] == 64);
  CHECK(std::string(bytes.begin() + 8, bytes.begin() + 8 + 64) == header + std::string(64 - header.size(), ' '));
  CHECK(bytes[8 + 64 + 4 + 3] == 0x3F);  // 1.0f = 00 00 80 3f
  CHECK(bytes[8 + 64 + 4 + 2] == 0x80);

  const Bytes empty = sf::serialize_safetensors(sf::SafetensorsFile{}, SafetensorsDtype::F64);
  CHECK(empty == file_with("{}      ", 0));
  sf::SafetensorsFile with_metadata;
  with_metadata.metadata["framework"] = "pt";
  CHECK(sf::serialize_safetensors(with_metadata, SafetensorsDtype::F32) ==
        file_with(R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '), 0));

  // Sorted by name in byte order, metadata first, whatever the insertion order.
  sf::SafetensorsFile several;
  several.metadata = {{"b", "2"}, {"a", "1"}};
  several.tensors["b"] = {SafetensorsDtype::F64, {}, {2.5}};
  several.tensors["B"] = {SafetensorsDtype::F64, {0, 3}, {}};
  several.tensors["a.1"] = {SafetensorsDtype::F64, {2}, {1, -1}};
  const Bytes many = sf::serialize_safetensors(several, SafetensorsDtype::F64);
  const std::string text(many.begin() + 8, many.begin() + 8 + many[0]);
  CHECK(text.rfind(R"({"__metadata__":{"a":"1","b":"2"},"B":{"dtype":"F64","shape":[0,3],"data_offsets":[0,0]},)"
                   R"("a.1":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F64","shape":[],"data_offsets":[16,24]}})",
                   0) == 0);
  CHECK(text.size() % 8 == 0);
  const sf::SafetensorsFile back = sf::parse_safetensors(many, "many");
  CHECK(back.metadata == several.metadata);
  CHECK(back.tensors.at("b").values == std::vector<double>{2.5});
  CHECK(back.tensors.at("B").shape == std::vector<std::uint64_t>{0, 3});
  CHECK(back.tensors.at("a.1").values == std::vector<double>{1, -1});

  // What the writer refuses.
  sf::SafetensorsFile bad;
  bad.tensors["w"] = {SafetensorsDtype::F64, {2, 2}, {1, 2, 3}};
  CHECK_THROWS_WITH(sf::serialize_safetensors(bad, SafetensorsDtype::F64), Catch::Contains("'w'") && Catch::Contains("has 3 values, but its shape [2, 2] needs 4"));
  bad.tensors["w"] = {SafetensorsDtype::F64, {1}, {1e39}};
  CHECK_THROWS_WITH(sf::serialize_safetensors(bad, SafetensorsDtype::F32), Catch::Contains("too large for F32"));
  CHECK_NOTHROW(sf::serialize_safetensors(bad, SafetensorsDtype::F64));
  CHECK_THROWS_WITH(sf::serialize_safetensors(bad, SafetensorsDtype::F16), Catch::Contains("F32 or F64, not F16"));
}

TEST_CASE("every malformed file is refused with a message naming the file, the tensor and the problem", "[safetensors][read]") {
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  const std::string a = entry("a", "F32", "[2]", "[0,8]");
  CHECK(parse_error(file_with("{" + a + "}", 8)) == "");  // the well-formed base of the broken ones

  struct Case {
    const char* what;
    Bytes bytes;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"shorter than the length field", Bytes(5, 0), {"5 bytes long, too short"}},
      {"header length above the limit", file_with("{}", 0, 100'000'001), {"header of 100000001 bytes, more than the 100000000"}},
      {"header length beyond the file", file_with("{" + a + "}", 8, 200), {"header of 200 bytes, but only", "truncated"}},
      {"header not an object", file_with("[" + a + "]", 8), {"does not start with '{'"}},
      {"header cut short", file_with("{" + a, 8), {"not valid JSON"}},
      {"header not UTF-8", file_with("{\"\xff\":1}", 0), {"not valid JSON"}},
      {"tensor named twice", file_with("{" + a + "," + a + "}", 8), {"names the tensor 'a' twice"}},
      {"nested too deeply", file_with("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}", 0), {"nested deeper"}},
      {"nested one level too deep", file_with(R"({"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8), {"nested deeper"}},
      {"metadata twice", file_with(R"({"__metadata__":{},"__metadata__":{}})", 0), {"two __metadata__ entries"}},
      {"metadata key twice", file_with(R"({"__metadata__":{"k":"1","k":"2"}})", 0), {"key 'k' twice in the header entry '__metadata__'"}},
      {"key twice in an entry", file_with(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       {"key 'dtype' twice in the header entry 'a'"}},
      {"metadata not an object", file_with(R"({"__metadata__":[1]})", 0), {"__metadata__ entry that is not a JSON object"}},
      {"metadata value not a string", file_with(R"({"__metadata__":{"epoch":3}})", 0), {"value 3 for key 'epoch'", "expected a string"}},
      {"entry not an object", file_with(R"({"a":[0,8]})", 8), {"tensor 'a'", "expected an object"}},
      {"no dtype", file_with(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'a' has no \"dtype\""}},
      {"no shape", file_with(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"tensor 'a' has no \"shape\""}},
      {"no data_offsets", file_with(R"({"a":{"dtype":"F32","shape":[2]}})", 8), {"tensor 'a' has no \"data_offsets\""}},
      {"extra key", file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"strides":[1]}})", 8),
       {"tensor 'a' has the unexpected key \"strides\""}},
      {"integer dtype", file_with("{" + entry("steps", "I64", "[]", "[0,8]") + "}", 8),
       {"tensor 'steps' has dtype I64, which symflow does not read", "num_batches_tracked"}},
      {"unknown dtype", file_with("{" + entry("a", "F33", "[2]", "[0,8]") + "}", 8), {"tensor 'a' has the unknown dtype \"F33\""}},
      {"dtype not a string", file_with(R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'a' has dtype 32"}},
      {"negative extent", file_with("{" + entry("a", "F32", "[2,-1]", "[0,8]") + "}", 8),
       {"tensor 'a''s shape entry 1 is -1, expected a non-negative integer"}},
      {"fractional extent", file_with("{" + entry("a", "F32", "[2.0]", "[0,8]") + "}", 8), {"shape entry 0 is 2.0"}},
      {"shape not an array", file_with("{" + entry("a", "F32", "2", "[0,8]") + "}", 8), {"tensor 'a' has shape 2, expected an array"}},
      {"shape overflows", file_with("{" + entry("a", "F32", "[4294967296,4294967296,16]", "[0,8]") + "}", 8),
       {"tensor 'a' has shape [4294967296, 4294967296, 16], whose size overflows"}},
      {"shape overflows with the element size", file_with("{" + entry("a", "F64", "[4611686018427387904]", "[0,8]") + "}", 8),
       {"whose size overflows"}},
      {"one offset", file_with("{" + entry("a", "F32", "[2]", "[0]") + "}", 8), {"tensor 'a' has data_offsets [0]", "expected [begin, end]"}},
      {"negative offset", file_with("{" + entry("a", "F32", "[2]", "[-8,0]") + "}", 8), {"data_offsets begin is -8"}},
      {"begin after end", file_with("{" + entry("a", "F32", "[0]", "[8,0]") + "}", 8), {"tensor 'a' has data_offsets [8, 0], expected begin <= end"}},
      {"end past the data", file_with("{" + entry("a", "F32", "[2]", "[0,8]") + "}", 4), {"tensor 'a' has data_offsets [0, 8] past the end", "has 4 bytes"}},
      {"size disagrees with the shape", file_with("{" + entry("a", "F32", "[3]", "[0,8]") + "}", 8),
       {"tensor 'a' has data_offsets [0, 8] = 8 bytes, but its shape [3] of F32 needs 12 bytes"}},
      {"tensors overlap", file_with("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}", 12),
       {"tensor 'b' (bytes [4, 12)) overlaps tensor 'a' (bytes [0, 8))"}},
      {"empty tensor inside another", file_with("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("e", "F32", "[0]", "[4,4]") + "}", 8),
       {"tensor 'e'", "overlaps tensor 'a'"}},
      {"hole between tensors", file_with("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}", 12),
       {"hole in its data region: bytes [4, 8) belong to no tensor (the next is 'b')"}},
      {"hole at the start", file_with("{" + entry("b", "F32", "[1]", "[4,8]") + "}", 8), {"bytes [0, 4) belong to no tensor"}},
      {"bytes after the last tensor", file_with("{" + a + "}", 12), {"4 bytes after its last tensor"}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string message = parse_error(c.bytes);
    CHECK(message.rfind("symflow: broken.safetensors: ", 0) == 0);
    for (const std::string& part : c.says) CHECK_THAT(message, Catch::Contains(part));
  }
  CHECK_THROWS_WITH(sf::read_safetensors("/nonexistent/weights.safetensors"),
                    Catch::Contains("/nonexistent/weights.safetensors: cannot be opened"));
}

TEST_CASE("state dicts carry PyTorch's names, shapes and layouts", "[safetensors][state_dict]") {
  auto rng = rng_for(1);
  const Biased biased;
  const Biased::Params theta = sf::random_params(biased, rng);
  const sf::SafetensorsFile dict = sf::state_dict_from_params(biased, theta);
  // nn.Sequential(Linear(4, 6), Tanh(), Linear(6, 3)): modules 0 and 2, weights (out, in) row-major.
  REQUIRE(dict.tensors.size() == 4);
  const auto& w1 = dict.tensors.at("0.weight");
  CHECK(w1.shape == std::vector<std::uint64_t>{6, 4});
  CHECK(dict.tensors.at("2.weight").shape == std::vector<std::uint64_t>{3, 6});
  CHECK(dict.tensors.at("2.bias").shape == std::vector<std::uint64_t>{3});
  const auto W1 = biased.weight<1>(theta);
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 4; ++i) CHECK(w1.values[static_cast<std::size_t>(o * 4 + i)] == W1(o, i));
  CHECK(Eigen::Map<const Eigen::VectorXd>(dict.tensors.at("0.bias").values.data(), 6) == biased.bias<1>(theta));

  // Exact round trips through files: F64 keeps θ bit for bit, F32 rounds each entry to float.
  const std::string path = scratch("biased");
  sf::write_state_dict(biased, theta, path, SafetensorsDtype::F64);
  CHECK(sf::read_state_dict(biased, path) == theta);
  sf::write_state_dict(biased, theta, path, SafetensorsDtype::F32);
  CHECK(sf::read_state_dict(biased, path) == theta.cast<float>().cast<double>());
  std::filesystem::remove(path);

  // Conv2d: (out, in, kh, kw) as θ holds it; the nn.Flatten before the Linear takes index 2.
  const TorchConv conv;
  const TorchConv::Params ct = sf::random_params(conv, rng);
  const sf::SafetensorsFile cd = sf::state_dict_from_params(conv, ct);
  CHECK(cd.tensors.at("0.weight").shape == std::vector<std::uint64_t>{3, 2, 3, 3});
  CHECK(cd.tensors.at("0.weight").values == std::vector<double>(ct.data(), ct.data() + 54));
  CHECK(cd.tensors.at("3.weight").shape == std::vector<std::uint64_t>{4, 27});
  CHECK(sf::params_from_state_dict(conv, sf::parse_safetensors(sf::serialize_safetensors(cd, SafetensorsDtype::F64), "conv")) == ct);

  // Mlp without biases: weights only; a normalisation takes an index, a Residual's layers are k.j.
  const Block block;
  const Block::Params bt = sf::random_params(block, rng);
  const auto bd = sf::state_dict_from_params(block, bt);
  CHECK(bd.tensors.size() == 2);
  CHECK(bd.tensors.at("2.weight").shape == std::vector<std::uint64_t>{2, 4});
  CHECK(sf::params_from_state_dict(block, bd) == bt);
  const NormResidual nr(sf::Dense<6>{}, sf::LayerNorm{}, sf::Residual<sf::Dense<6>, sf::ReLU>{}, sf::Dense<3, sf::WithBias>{});
  const NormResidual::Params nt = sf::random_params(nr, rng);
  const auto nd = sf::state_dict_from_params(nr, nt);
  std::vector<std::string> names;
  for (const auto& [name, t] : nd.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "2.0.weight", "3.bias", "3.weight"});
  CHECK(sf::params_from_state_dict(nr, nd) == nt);

  // Names given per layer with weights.
  const sf::StateDictOptions named{{"encoder", "head.fc"}};
  const auto gd = sf::state_dict_from_params(block, bt, named);
  CHECK(gd.tensors.count("encoder.weight") == 1);
  CHECK(gd.tensors.count("head.fc.weight") == 1);
  CHECK(sf::params_from_state_dict(block, gd, named) == bt);
  CHECK_THROWS_WITH(sf::state_dict_from_params(block, bt, sf::StateDictOptions{{"only_one"}}),
                    Catch::Contains("names 1 modules, but the model has 2 layers with weights"));
  CHECK_THROWS_WITH(sf::state_dict_from_params(block, bt, sf::StateDictOptions{{"same", "same"}}),
                    Catch::Contains("two layers write the tensor 'same.weight'"));
}

TEST_CASE("a state dict that does not fit the model is refused, naming the tensor, the layer and both shapes", "[safetensors][state_dict]") {
  auto rng = rng_for(2);
  const Biased biased;
  const sf::SafetensorsFile good = sf::state_dict_from_params(biased, sf::random_params(biased, rng).eval());
  const auto refusal = [&](const sf::SafetensorsFile& file, const sf::StateDictOptions& options = {}) -> std::string {
    try {
      sf::params_from_state_dict(biased, file, options);
    } catch (const sf::DataFileError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(refusal(good) == "");

  auto missing = good;
  missing.tensors.erase("2.bias");
  CHECK_THAT(refusal(missing), Catch::Contains("has no tensor '2.bias' for the bias of layer 2 (W_2) of the Mlp (shape [3])") &&
                                   Catch::Contains("its tensors are '0.bias', '0.weight', '2.weight'"));
  auto transposed = good;
  transposed.tensors["0.weight"].shape = {4, 6};
  CHECK_THAT(refusal(transposed), Catch::Contains("tensor '0.weight' has shape [4, 6], but the weight of layer 1 (W_1) of the Mlp has shape [6, 4]"));

  auto extra = good;
  extra.tensors["3.weight"] = {SafetensorsDtype::F32, {1}, {0.0}};
  CHECK_THAT(refusal(extra), Catch::Contains("tensors that no layer of the model reads: '3.weight'") &&
                                 Catch::Contains("allow_unused"));
  CHECK(refusal(extra, sf::StateDictOptions{{}, true}) == "");
  CHECK(sf::unused_tensors(biased, extra) == std::vector<std::string>{"3.weight"});

  // A bias where the model has none, and running statistics, come with the reason.
  const Block block;
  auto with_bias = sf::state_dict_from_params(block, sf::random_params(block, rng).eval());
  with_bias.tensors["0.bias"] = {SafetensorsDtype::F32, {4}, {0, 0, 0, 0}};
  with_bias.tensors["1.running_mean"] = {SafetensorsDtype::F32, {4}, {0, 0, 0, 0}};
  CHECK_THROWS_WITH(sf::params_from_state_dict(block, with_bias),
                    Catch::Contains("'0.bias' is a bias, but layer 1 (W_1) of the Mlp has none") &&
                        Catch::Contains("'1.running_mean' is a running statistic") && Catch::Contains("track_running_stats=False"));

  // Normalisation with an affine part.
  const NormResidual nr(sf::Dense<6>{}, sf::LayerNorm{}, sf::Residual<sf::Dense<6>, sf::ReLU>{}, sf::Dense<3, sf::WithBias>{});
  auto affine = sf::state_dict_from_params(nr, sf::random_params(nr, rng).eval());
  affine.tensors["1.weight"] = {SafetensorsDtype::F32, {6}, std::vector<double>(6, 1.0)};
  affine.source = "affine.safetensors";
  CHECK_THROWS_WITH(sf::params_from_state_dict(nr, affine),
                    Catch::StartsWith("symflow: affine.safetensors: has the tensor '1.weight', an affine parameter of the "
                                      "normalisation symflow layer 2 (LayerNorm)") &&
                        Catch::Contains("elementwise_affine=False"));
}

TEST_CASE("symflow computes what PyTorch computes from the same weights: outputs, and the gradient through normalisation layers", "[safetensors][torch]") {
  // The fixtures: float32 state dicts; inputs and PyTorch's outputs in float64 from the same weights.
  const sf::SafetensorsFile torch = sf::read_safetensors(data_file("torch_outputs.safetensors"));
  const double tolerance = 1e-12;  // relative, in double; rounding differences are ~1e-16

  const TorchMlp mlp;
  const TorchMlp::Params mp = sf::read_state_dict(mlp, data_file("torch_mlp.safetensors"));
  const Eigen::MatrixXd mlp_out = mlp.forward(mp, samples_as_columns(torch, "mlp_input"));
  CHECK(mlp_out.cols() == 7);
  CHECK(worst_relative(mlp_out, samples_as_columns(torch, "mlp_output")) <= tolerance);

  const TorchConv conv;
  const TorchConv::Params cp = sf::read_state_dict(conv, data_file("torch_conv.safetensors"));
  const Eigen::MatrixXd conv_out = conv.forward(cp, samples_as_columns(torch, "conv_input"));
  CHECK(conv_out.cols() == 5);
  CHECK(worst_relative(conv_out, samples_as_columns(torch, "conv_output")) <= tolerance);

  // Normalisation layers and softmax cross-entropy: the loss and every parameter's gradient.
  const sf::SafetensorsFile norm_reference = sf::read_safetensors(data_file("torch_norm_gradient.safetensors"));
  const TorchNorm norm(sf::Conv2d<4, 3, 1, 1>{}, sf::BatchNorm{.epsilon = 1e-5}, sf::ReLU{}, sf::Conv2d<3, 3, 2, 1>{}, sf::ReLU{},
                       sf::Dense<6, sf::WithBias>{}, sf::LayerNorm{.epsilon = 1e-5}, sf::Tanh{}, sf::Dense<4, sf::WithBias>{});
  const TorchNorm::Params np = sf::read_state_dict(norm, data_file("torch_norm.safetensors"));
  const sf::Objective objective(norm, sf::SoftmaxCrossEntropy{}, samples_as_columns(norm_reference, "norm_input"),
                                samples_as_columns(norm_reference, "norm_target"));
  const double torch_loss = norm_reference.tensors.at("norm_loss").values.at(0);
  CHECK(std::abs(objective.value(np) - torch_loss) <= tolerance * torch_loss);
  const sf::SafetensorsFile gradient = sf::state_dict_from_params(norm, objective.gradient(np));
  CHECK(gradient.tensors.size() == 8);  // weight and bias of two convolutions and two dense layers
  // Relative to the largest entry of the whole gradient: the first convolution's bias feeds a
  // BatchNorm, which removes it, so its gradient is zero up to rounding in both codes.
  const auto entries = [](const sf::SafetensorsTensor& t) {
    return Eigen::Map<const Eigen::VectorXd>(t.values.data(), static_cast<sf::Index>(t.values.size()));
  };
  double scale = 0;
  for (const auto& [name, tensor] : gradient.tensors) scale = std::max(scale, entries(tensor).cwiseAbs().maxCoeff());
  for (const auto& [name, tensor] : gradient.tensors) {
    INFO(name);
    const auto& want = norm_reference.tensors.at(name);
    CHECK(tensor.shape == want.shape);
    CHECK((entries(tensor) - entries(want)).cwiseAbs().maxCoeff() <= tolerance * scale);
  }
  CHECK(entries(gradient.tensors.at("0.bias")).cwiseAbs().maxCoeff() <= 1e-14 * scale);

  // File → θ → file gives PyTorch's file back byte for byte.
  const auto same_bytes = [](const auto& net, const char* name) {
    INFO(name);
    const Bytes original = sf::read_file_bytes(data_file(name));
    const auto theta = sf::params_from_state_dict(net, sf::parse_safetensors(original, name));
    CHECK(sf::serialize_safetensors(sf::state_dict_from_params(net, theta), SafetensorsDtype::F32) == original);
  };
  same_bytes(mlp, "torch_mlp.safetensors");
  same_bytes(conv, "torch_conv.safetensors");
  same_bytes(norm, "torch_norm.safetensors");

  // PyTorch's own float16 and bfloat16 conversions of chosen patterns agree with the decoder.
  for (const char* kind : {"f16", "bf16"}) {
    INFO(kind);
    const auto& narrow = torch.tensors.at(std::string(kind) + "_values");
    const auto& wide = torch.tensors.at(std::string(kind) + "_as_f64");
    CHECK(narrow.dtype == (kind[0] == 'f' ? SafetensorsDtype::F16 : SafetensorsDtype::BF16));
    REQUIRE(narrow.values.size() == wide.values.size());
    for (std::size_t i = 0; i < wide.values.size(); ++i) {
      const double a = narrow.values[i], b = wide.values[i];
      CHECK((std::isnan(b) ? std::isnan(a) && std::signbit(a) == std::signbit(b) : a == b && std::signbit(a) == std::signbit(b)));
    }
  }
}
