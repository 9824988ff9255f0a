// manifest.json of a preprocessed dataset directory: the tokenizer it was made with, its
// shards per split with sample and token counts, the sources and the preprocessing summary.
// Written last (atomically: .tmp then rename); a directory without it is not a dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mofe/dist/communicator.h"

namespace mofe::data {

struct ShardEntry {
  std::string split, file;
  int64_t samples = 0, tokens = 0;
};

struct Manifest {
  std::string tokenizer_path, tokenizer_checksum, sources_json, summary;
  int64_t vocab_size = 0, bos_id = 1, eos_id = 2, pad_id = 2;
  std::vector<ShardEntry> shards;  // sorted by split, then file name

  std::vector<ShardEntry> split(const std::string& name) const;
  void write(const std::string& dir) const;
  static Manifest read(const std::string& dir);  // IoError naming the file
};

// Every rank's entries, on every rank, sorted (collective over `world`).
std::vector<ShardEntry> gather_shards(const std::vector<ShardEntry>& mine,
                                      const dist::Communicator& world);

}  // namespace mofe::data
