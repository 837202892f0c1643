// libFuzzer target for symflow's data readers: any byte string, gzip-compressed or not, must be
// either decoded (IDX array, images, labels) or rejected with symflow::DataFileError. Anything
// else (a crash, another exception, a read outside a buffer under AddressSanitizer, undefined
// behaviour under UBSan) is a bug.
#include <symflow/io.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

// Keep decompression bombs small so that the fuzzer explores instead of allocating.
constexpr std::size_t max_decompressed = std::size_t{1} << 24;

void decode(std::vector<std::uint8_t> bytes) {
  if (symflow::is_gzip(bytes)) bytes = symflow::gunzip(bytes, "input.gz", max_decompressed);
  const symflow::IdxArray array = symflow::parse_idx(std::move(bytes), "input");
  // Touch every element (bounded) so that a wrong size() would read outside the buffer.
  double sum = 0;
  const std::size_t n = array.size() < 4096 ? array.size() : 4096;
  for (std::size_t i = 0; i < n; ++i) sum += array.value(i);
  if (array.size() > 0) sum += array.value(array.size() - 1);
  static_cast<void>(sum);
  try {
    const auto images = symflow::idx_images<float>(array, "input");
    if (images.pixels.size() > 0 && (images.pixels.minCoeff() < 0.0f || images.pixels.maxCoeff() > 1.0f))
      __builtin_trap();  // pixels must lie in [0, 1]
  } catch (const symflow::DataFileError&) {
  }
  try {
    for (int label : symflow::idx_labels(array, "input", 10))
      if (label < 0 || label > 9) __builtin_trap();  // labels must lie in 0…9
  } catch (const symflow::DataFileError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    decode(std::vector<std::uint8_t>(data, data + size));
  } catch (const symflow::DataFileError&) {
    // A clear rejection is the expected outcome for a malformed file.
  }
  return 0;
}
