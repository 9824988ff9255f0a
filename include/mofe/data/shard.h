// Token shards: one HDF5 file holds many tokenized samples.
//   /tokens     int32 [N]     every sample's token ids, concatenated (chunked, deflate,
//   Fletcher-32) /offsets    int64 [n + 1] sample i is tokens[offsets[i], offsets[i+1]) /loss_mask
//   uint8 [N]     1 where the token is a training target (response tokens) attributes  mofe_format
//   = "mofe-tokens", format_version, tokenizer_checksum, vocab_size,
//               split, sources (JSON), num_samples, num_tokens
// A shard is written under "<name>.tmp" and renamed when complete, so a crash never leaves a
// file with the final name half-written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mofe/io/h5.h"

namespace mofe::data {

constexpr int64_t kShardFormatVersion = 1;

struct Sample {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // same length as tokens
};

struct ShardMeta {
  std::string tokenizer_checksum;
  int64_t vocab_size = 0;
  std::string split;         // "train" | "val"
  std::string sources_json;  // [{"file": ..., "checksum": ...}]
};

class ShardWriter {
 public:
  ShardWriter(std::string path, ShardMeta meta);
  void add(const Sample& s);
  int64_t samples() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t tokens() const { return static_cast<int64_t>(tokens_.size()); }
  const std::string& path() const { return path_; }
  void close();  // writes "<path>.tmp", flushes, renames to path

 private:
  std::string path_;
  ShardMeta meta_;
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> mask_;
  std::vector<int64_t> offsets_{0};
};

// Opens and validates a shard: format and version, tokenizer checksum (when `expected` is not
// empty), offsets monotonic and within bounds, every token id below the vocabulary size. Any
// violation is an IoError naming the file and what is wrong.
class ShardReader {
 public:
  ShardReader(const std::string& path, const std::string& expected_tokenizer_checksum);
  int64_t samples() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t tokens() const { return offsets_.back(); }
  int64_t vocab_size() const { return vocab_size_; }
  const std::string& tokenizer_checksum() const { return tokenizer_checksum_; }
  const std::string& path() const { return file_.path(); }
  Sample sample(int64_t i) const;  // takes io::h5_mutex()
  std::string attr(const std::string& name) const { return file_.attr_string(name); }

 private:
  io::H5File file_;
  std::unique_ptr<io::H5Dataset> tokens_ds_, mask_ds_;  // kept open: their chunk caches persist
  std::vector<int64_t> offsets_;
  int64_t vocab_size_ = 0;
  std::string tokenizer_checksum_;
};

}  // namespace mofe::data
