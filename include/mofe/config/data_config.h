// DataConfig: where training batches come from.
#pragma once

#include <cstdint>
#include <string>

namespace mofe::config {

struct DataConfig {
  // A dataset directory made by `mofe preprocess` (manifest.json + HDF5 shards), or
  // "synthetic": an in-memory Markov language with a fixed sparse transition table.
  std::string source = "synthetic";
  std::string tokenizer;  // the model's tokenizer.model: the data must have been made with it
  int prefetch = 4;       // micro-batches the loader reads ahead
  bool pack = false;      // pack each micro-batch's samples into as few rows as they need
  uint64_t seed = 42;     // seed of the synthetic language (its transition table)
  int64_t branching = 4;  // successors per token in the synthetic language

  void validate() const;
};

}  // namespace mofe::config
