// Fuzz target for the safetensors parser (src/io/safetensors.cpp): any byte string must either
// parse or be rejected with IoError, never crash, hang or read outside the buffer. On success
// every tensor's bytes are read, so AddressSanitizer sees an out-of-range view at once.
//   libFuzzer:  tools/fuzz.sh [SECONDS]        (clang -fsanitize=fuzzer,address,undefined)
//   anywhere:   mofe_fuzz_safetensors [ITERATIONS] [SEED_FILES...]   (standalone_main.cpp)
#include <cstddef>
#include <cstdint>

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
