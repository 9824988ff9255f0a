// DataConfig: where training batches come from.
#pragma once

#include <cstdint>
#include <string>

namespace mofe::config {

struct DataConfig {
  // "synthetic": an in-memory Markov language with a fixed sparse transition table, learnable
  // by a tiny model (the HDF5 pipeline replaces it once preprocessing lands).
  std::string source = "synthetic";
  uint64_t seed = 42;     // seed of the synthetic language (its transition table)
  int64_t branching = 4;  // successors per token in the synthetic language

  void validate() const;
};

}  // namespace mofe::config
