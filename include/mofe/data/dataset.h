// TokenDataset: one split of a preprocessed dataset directory, every shard opened and
// validated (shard.h), samples addressed 0..size()-1 in manifest order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mofe/data/manifest.h"
#include "mofe/data/shard.h"

namespace mofe::data {

class TokenDataset {
 public:
  // expected_tokenizer_checksum: the model's tokenizer; empty to accept any.
  TokenDataset(const std::string& dir, const std::string& split,
               const std::string& expected_tokenizer_checksum);
  int64_t size() const { return starts_.back(); }
  Sample sample(int64_t i) const;
  const Manifest& manifest() const { return manifest_; }

 private:
  Manifest manifest_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<int64_t> starts_{0};  // first global sample of each shard, then the total
};

}  // namespace mofe::data
