// Preprocessing: dataset files -> tokenized HDF5 shards + manifest.json.
//   read records (formats.h) -> render prompt/response (templates.h) -> tokenize the pair once
//   and split at the prompt's length (the lm-evaluation-harness rule) -> truncate or drop long
//   samples -> split train/val by a seeded hash of the global record index -> shards.
// Under MPI, rank r keeps the records whose global index is r modulo the world size and writes
// its own shards; rank 0 writes the manifest after every rank has closed its shards. All of it
// goes into <out>.tmp-*/ and becomes <out> in one rename at the end (io/staged_dir.h): a
// failed or killed run leaves the previous dataset as it was, never old and new shards mixed.
//
// Every record is accounted for, per input file: read = written + skipped (bad records,
// --on-error skip) + dropped (too long for --max-seq-len, no trained token); the totals are
// checked at the end, and a mismatch is an error.
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
  // A record whose prompt and response together are longer is a bad record
  // (record_too_large): tokenising text far beyond the sequence budget costs time and memory
  // for tokens that would be cut anyway.
  int64_t max_record_bytes = 1 << 20;
  std::vector<std::string> formats;  // per input, resolved by validate()

  void validate();  // UsageError; detects each input's format
};

struct FileCounts {
  int64_t read = 0, written = 0;
  std::map<std::string, int64_t> skipped, dropped;  // by reason
  int64_t skipped_total() const;
  int64_t dropped_total() const;
};

struct PreprocessSummary {
  int64_t read = 0, written = 0, truncated = 0, tokens = 0, train = 0, val = 0;
  int64_t trained_tokens = 0;               // tokens with loss mask 1
  std::map<std::string, int64_t> skipped;   // bad records, by reason
  std::map<std::string, int64_t> dropped;   // good records that cannot be samples, by reason
  std::map<std::string, FileCounts> files;  // per input file
  std::string line() const;                 // the one-line summary
};

// Collective over `world`. Returns the global summary (same on every rank).
PreprocessSummary preprocess(const PreprocessConfig& cfg, const dist::Communicator& world);

}  // namespace mofe::data
