// Preprocessing: dataset files -> tokenized HDF5 shards + manifest.json.
//   read records (formats.h) -> render prompt/response (templates.h) -> tokenize the pair once
//   and split at the prompt's length (the lm-evaluation-harness rule) -> truncate or drop long
//   samples -> split train/val by a seeded hash of the global record index -> shards.
// Under MPI, rank r keeps the records whose global index is r modulo the world size and writes
// its own shards; rank 0 writes the manifest after every rank has closed its shards, so a
// crashed run never leaves a manifest pointing at half-written files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mofe/dist/communicator.h"

namespace mofe::data {

struct PreprocessConfig {
  std::vector<std::string> inputs;
  std::string format = "auto";
  std::string tokenizer;  // SentencePiece tokenizer.model
  std::string out_dir;
  double val_fraction = 0.1;
  uint64_t seed = 1234;
  int64_t shard_samples = 100000;  // samples per shard (per rank)
  int64_t max_seq_len = 2048;      // tokens per sample, BOS/EOS included
  std::string truncate = "left";   // left: cut the prompt's start | drop: skip the sample
  std::string on_error = "stop";   // stop at the first bad record | skip and count
  std::string medmcqa_cop = "auto";
  bool add_bos = true, add_eos = true;

  void validate() const;  // UsageError
};

struct PreprocessSummary {
  int64_t read = 0, written = 0, truncated = 0, tokens = 0, train = 0, val = 0;
  std::map<std::string, int64_t> skipped;  // by reason
  std::string line() const;                // the one-line summary
};

// Collective over `world`. Returns the global summary (same on every rank).
PreprocessSummary preprocess(const PreprocessConfig& cfg, const dist::Communicator& world);

}  // namespace mofe::data
