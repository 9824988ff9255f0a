// A libFuzzer-free driver for fuzz_safetensors.cpp, so the target runs in every build (gcc,
// sanitizers) for a bounded number of inputs: built-in valid seeds plus any seed files given,
// mutated deterministically (bit flips, byte and length-field edits, truncation, insertion,
// digit edits inside the JSON header). Exit 0 when no input crashed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> make(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(uint64_t(header.size()) >> (8 * i));
  s += header;
  s.append(data_bytes, '\x3f');
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<std::vector<uint8_t>> builtin_seeds() {
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

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  auto seeds = builtin_seeds();
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::mt19937_64 rng(12345);
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> x = seeds[rng() % seeds.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !x.empty(); ++e) {
      switch (rng() % 7) {
        case 0:  // flip a bit anywhere
          x[rng() % x.size()] ^= uint8_t(1u << (rng() % 8));
          break;
        case 1:  // rewrite a byte of the header-length field
          x[rng() % std::min<size_t>(8, x.size())] = uint8_t(rng());
          break;
        case 2:  // truncate
          x.resize(rng() % (x.size() + 1));
          break;
        case 3:  // insert random bytes
          x.insert(x.begin() + long(rng() % (x.size() + 1)), 1 + rng() % 8, uint8_t(rng()));
          break;
        case 4: {  // change a digit inside the header (shapes and offsets)
          for (int tries = 0; tries < 16; ++tries) {
            size_t i = 8 + rng() % std::max<size_t>(1, x.size() - 8);
            if (i < x.size() && x[i] >= '0' && x[i] <= '9') {
              x[i] = uint8_t('0' + rng() % 10);
              break;
            }
          }
          break;
        }
        case 5:  // duplicate a chunk
          if (x.size() > 2) {
            size_t a = rng() % x.size(), n = 1 + rng() % std::min<size_t>(16, x.size() - a);
            std::vector<uint8_t> chunk(x.begin() + long(a), x.begin() + long(a + n));
            x.insert(x.begin() + long(rng() % x.size()), chunk.begin(), chunk.end());
          }
          break;
        default:  // huge length field
          for (size_t i = 0; i < 8 && i < x.size(); ++i) x[i] = uint8_t(i < 4 ? rng() : 0);
      }
    }
    LLVMFuzzerTestOneInput(x.data(), x.size());
  }
  std::printf("fuzz_safetensors: %ld mutated inputs, no crash\n", iterations);
  return 0;
}
