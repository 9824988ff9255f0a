// SyntheticLanguage: a learnable in-memory language for the tiny default job and tests.
// Every token has `branching` possible successors with fixed Zipf-like probabilities, drawn
// once from the seed: a first-order Markov chain whose entropy (the best achievable loss) is
// known in closed form. A model that learns it drops from ln(V) to about that entropy.
//
// Sequences are addressed by a *global sample index*: sample i is generated from (seed, i)
// alone, so the data a step sees does not depend on how many ranks share it.
#pragma once

#include <cstdint>
#include <vector>

#include "mofe/data/batch.h"

namespace mofe::data {

class SyntheticLanguage {
 public:
  SyntheticLanguage(int64_t vocab, int64_t branching, uint64_t seed);

  // Samples [first, first + count) as a batch of sequences of seq_len (+1 for the targets).
  Batch batch(int64_t first_sample, int64_t count, int64_t seq_len) const;
  double entropy_nats() const;  // stationary entropy rate: the loss floor

 private:
  int64_t vocab_, branching_;
  uint64_t seed_;
  std::vector<int64_t> next_;  // [V, branching] successor ids
  std::vector<double> cdf_;    // [branching] cumulative probabilities (same for every token)
};

}  // namespace mofe::data
