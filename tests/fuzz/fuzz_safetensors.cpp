// Fuzz target for the safetensors parser (src/io/safetensors.cpp): any byte string must either
// parse or be rejected with IoError, never crash, hang or read outside the buffer. On success
// every tensor's bytes are read, so AddressSanitizer sees an out-of-range view at once.
//   libFuzzer:  tools/fuzz.sh [SECONDS]        (clang -fsanitize=fuzzer,address,undefined)
//   anywhere:   mofe_fuzz_safetensors [ITERATIONS] [SEED_FILES...]   (standalone_main.cpp)
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mofe/core/error.h"
#include "mofe/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto view = mofe::io::SafetensorsView::parse(data, size, "fuzz");
    volatile uint8_t sink = 0;
    for (const auto& t : view.tensors())
      for (size_t i = 0; i < t.bytes(); ++i) sink = sink ^ t.data[i];
    (void)sink;
  } catch (const mofe::IoError&) {
    // rejected: fine
  }
  return 0;
}

namespace {
std::vector<uint8_t> make(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(uint64_t(header.size()) >> (8 * i));
  s += header;
  s.append(data_bytes, '\x3f');
  return std::vector<uint8_t>(s.begin(), s.end());
}
}  // namespace

std::vector<std::vector<uint8_t>> mofe_fuzz_seeds() {
  return {
      make(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
          R"("b":{"dtype":"BF16","shape":[1,3],"data_offsets":[8,14]},"__metadata__":{"format":"pt"}})",
          14),
      make(R"({"w":{"dtype":"F16","shape":[4,2],"data_offsets":[0,16]}})", 16),
      make(R"({"e":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},)"
           R"("x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
           8),
      make("{}", 0)};
}
