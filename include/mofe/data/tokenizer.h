// Tokenizer: a SentencePiece model (loaded through libmofe_spm, see src/data/spm_shim.cpp) (any
// Llama-style tokenizer.model, the 32000-piece Llama/TinyLlama one included) with the file's
// identity (CRC-32 and size) so datasets and models made with different tokenizers are told apart.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mofe::data {

struct SpmApi;

class Tokenizer {
 public:
  explicit Tokenizer(const std::string& model_path);  // IoError naming the file
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> encode(const std::string& text) const;  // no BOS/EOS
  std::string decode(const std::vector<int32_t>& ids) const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;  // the model's pad id, or eos when it has none
  int64_t vocab_size() const;
  // "crc32:xxxxxxxx:size" of the model file: stored with data and checked by training.
  const std::string& checksum() const { return checksum_; }
  const std::string& path() const { return path_; }

 private:
  const SpmApi* api_;  // SentencePiece, loaded apart from LibTorch (spm_shim.cpp)
  void* handle_ = nullptr;
  std::string path_, checksum_;
};

// "crc32:xxxxxxxx:size" of any file (zlib's crc32). IoError when it cannot be read.
std::string file_checksum(const std::string& path);

}  // namespace mofe::data
