#include "mofe/data/shard.h"

#include <cstdio>
#include <filesystem>

#include "mofe/core/error.h"

namespace mofe::data {

ShardWriter::ShardWriter(std::string path, ShardMeta meta)
    : path_(std::move(path)), meta_(std::move(meta)) {}

void ShardWriter::add(const Sample& s) {
  tokens_.insert(tokens_.end(), s.tokens.begin(), s.tokens.end());
  mask_.insert(mask_.end(), s.loss_mask.begin(), s.loss_mask.end());
  offsets_.push_back(static_cast<int64_t>(tokens_.size()));
}

void ShardWriter::close() {
  const std::string tmp = path_ + ".tmp";
  {
    std::lock_guard<std::mutex> lock(io::h5_mutex());
    auto f = io::H5File::create(tmp);
    f.write_int32("tokens", tokens_, true);
    f.write_int64("offsets", offsets_, true);
    f.write_uint8("loss_mask", mask_, true);
    f.set_attr("mofe_format", std::string("mofe-tokens"));
    f.set_attr("format_version", kShardFormatVersion);
    f.set_attr("tokenizer_checksum", meta_.tokenizer_checksum);
    f.set_attr("vocab_size", meta_.vocab_size);
    f.set_attr("split", meta_.split);
    f.set_attr("sources", meta_.sources_json);
    f.set_attr("num_samples", samples());
    f.set_attr("num_tokens", tokens());
    f.flush();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) throw IoError("cannot rename '" + tmp + "' to '" + path_ + "': " + ec.message());
}

ShardReader::ShardReader(const std::string& path, const std::string& expected)
    : file_([&] {
        std::lock_guard<std::mutex> lock(io::h5_mutex());
        return io::H5File::open_read(path);
      }()) {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  auto bad = [&](const std::string& what) { throw InputError("shard '" + path + "': " + what); };
  if (!file_.has("tokens") || !file_.has("offsets") || !file_.has("loss_mask"))
    bad("not a mofe token shard (missing tokens/offsets/loss_mask)");
  if (file_.attr_string("mofe_format") != "mofe-tokens") bad("not a mofe token shard");
  const int64_t version = file_.attr_int("format_version");
  if (version != kShardFormatVersion)
    bad("format version " + std::to_string(version) + ", this mofe reads " +
        std::to_string(kShardFormatVersion));
  tokenizer_checksum_ = file_.attr_string("tokenizer_checksum");
  if (!expected.empty() && tokenizer_checksum_ != expected)
    bad("made with tokenizer " + tokenizer_checksum_ + ", expected " + expected +
        " (re-run mofe preprocess with the model's tokenizer)");
  vocab_size_ = file_.attr_int("vocab_size");
  offsets_ = file_.read_int64("offsets");
  const int64_t n_tokens = file_.length("tokens");
  if (offsets_.empty() || offsets_.front() != 0) bad("offsets must start at 0");
  for (size_t i = 1; i < offsets_.size(); ++i)
    if (offsets_[i] < offsets_[i - 1])
      bad("offsets not monotonic at sample " + std::to_string(i - 1));
  if (offsets_.back() != n_tokens)
    bad("offsets end at " + std::to_string(offsets_.back()) + " but the shard has " +
        std::to_string(n_tokens) + " tokens");
  if (file_.length("loss_mask") != n_tokens) bad("loss_mask and tokens differ in length");
  if (file_.attr_int("num_samples") != samples())
    bad("num_samples attribute does not match offsets");
  tokens_ds_ = std::make_unique<io::H5Dataset>(file_.open_dataset("tokens"));
  mask_ds_ = std::make_unique<io::H5Dataset>(file_.open_dataset("loss_mask"));
  // Every id below the vocabulary, read in chunks (also verifies the Fletcher-32 checksums).
  constexpr int64_t kChunk = 1 << 20;
  for (int64_t o = 0; o < n_tokens; o += kChunk) {
    const auto ids = tokens_ds_->read_int32(o, std::min(kChunk, n_tokens - o));
    for (size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= vocab_size_)
        bad("token id " + std::to_string(ids[k]) + " at position " +
            std::to_string(o + int64_t(k)) + " outside the vocabulary [0, " +
            std::to_string(vocab_size_) + ")");
  }
}

Sample ShardReader::sample(int64_t i) const {
  if (i < 0 || i >= samples())
    throw InputError("shard '" + path() + "': sample " + std::to_string(i) + " out of range");
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  const int64_t b = offsets_[i], n = offsets_[i + 1] - offsets_[i];
  return Sample{tokens_ds_->read_int32(b, n), mask_ds_->read_uint8(b, n)};
}

}  // namespace mofe::data
