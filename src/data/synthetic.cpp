#include "mofe/data/synthetic.h"

#include <cmath>
#include <random>

#include "mofe/core/error.h"

namespace mofe::data {

SyntheticLanguage::SyntheticLanguage(int64_t vocab, int64_t branching, uint64_t seed)
    : vocab_(vocab), branching_(branching), seed_(seed) {
  if (vocab < 2 || branching < 1 || branching > vocab)
    throw UsageError("synthetic data: need vocab >= 2 and 1 <= branching <= vocab");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> tok(0, vocab - 1);
  next_.resize(vocab * branching);
  for (auto& t : next_) t = tok(rng);
  double z = 0;
  std::vector<double> p(branching);
  for (int64_t k = 0; k < branching; ++k) z += p[k] = 1.0 / double(k + 1);
  double c = 0;
  for (int64_t k = 0; k < branching; ++k) cdf_.push_back(c += p[k] / z);
  cdf_.back() = 1.0;
}

double SyntheticLanguage::entropy_nats() const {
  // Successor choice has the same distribution from every token; repeated successor ids only
  // lower it, so this is an upper bound of the true entropy rate (tight for distinct ids).
  double h = 0, prev = 0;
  for (double c : cdf_) {
    double p = c - prev;
    prev = c;
    if (p > 0) h -= p * std::log(p);
  }
  return h;
}

Batch SyntheticLanguage::batch(int64_t first_sample, int64_t count, int64_t seq_len) const {
  auto ids = torch::empty({count, seq_len + 1}, torch::kLong);
  auto* out = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    std::mt19937_64 rng(seed_ ^ (0x9E3779B97F4A7C15ULL * uint64_t(first_sample + b + 1)));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    int64_t t = std::uniform_int_distribution<int64_t>(0, vocab_ - 1)(rng);
    for (int64_t s = 0; s <= seq_len; ++s) {
      out[b * (seq_len + 1) + s] = t;
      const double r = u(rng);
      int64_t k = 0;
      while (k + 1 < branching_ && r > cdf_[k]) ++k;
      t = next_[t * branching_ + k];
    }
  }
  Batch batch;
  batch.input_ids_BS = ids.slice(1, 0, seq_len).contiguous();
  batch.targets_BS = ids.slice(1, 1, seq_len + 1).contiguous();
  batch.loss_tokens = count * seq_len;
  return batch;
}

}  // namespace mofe::data
