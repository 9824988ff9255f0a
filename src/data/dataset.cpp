#include "mofe/data/dataset.h"

#include <algorithm>

#include "mofe/core/error.h"

namespace mofe::data {

TokenDataset::TokenDataset(const std::string& dir, const std::string& split,
                           const std::string& expected)
    : manifest_(Manifest::read(dir)) {
  if (!expected.empty() && manifest_.tokenizer_checksum != expected)
    throw InputError("dataset '" + dir + "' was made with tokenizer " +
                     manifest_.tokenizer_checksum + " but the model uses " + expected +
                     " (re-run mofe preprocess with the model's tokenizer)");
  for (const auto& e : manifest_.split(split)) {
    auto reader = std::make_unique<ShardReader>(dir + "/" + e.file, manifest_.tokenizer_checksum);
    if (reader->samples() != e.samples)
      throw InputError("shard '" + dir + "/" + e.file + "' has " +
                       std::to_string(reader->samples()) + " samples, the manifest says " +
                       std::to_string(e.samples));
    starts_.push_back(starts_.back() + reader->samples());
    shards_.push_back(std::move(reader));
  }
  if (size() == 0) throw InputError("dataset '" + dir + "' has no '" + split + "' samples");
}

Sample TokenDataset::sample(int64_t i) const {
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), i);
  const size_t shard = static_cast<size_t>(it - starts_.begin()) - 1;
  return shards_.at(shard)->sample(i - starts_[shard]);
}

}  // namespace mofe::data
