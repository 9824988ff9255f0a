// A libFuzzer-free driver for the fuzz targets (fuzz_safetensors.cpp, fuzz_records.cpp), so they
// run in every build (gcc, sanitizers) for a bounded number of inputs: the target's built-in
// valid seeds plus any seed files given, mutated deterministically (bit flips, byte and
// length-field edits, truncation, insertion, digit edits, CSV/JSON punctuation). Exit 0 when
// no input crashed.
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

// The target's own valid seeds (each fuzz target defines them beside LLVMFuzzerTestOneInput).
std::vector<std::vector<uint8_t>> mofe_fuzz_seeds();

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  auto seeds = mofe_fuzz_seeds();
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
      switch (rng() % 8) {
        case 7: {  // a character that means something to a CSV or JSON reader
          static const char kSpecial[] = "\",\n\r{}[]:\\\xEF\xBB\xBF\xFF";
          x.insert(x.begin() + long(rng() % (x.size() + 1)),
                   uint8_t(kSpecial[rng() % (sizeof kSpecial - 1)]));
          break;
        }
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
  std::printf("%s: %ld mutated inputs, no crash\n", argv[0], iterations);
  return 0;
}
