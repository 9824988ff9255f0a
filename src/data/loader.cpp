#include "mofe/data/loader.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace mofe::data {

Loader::Loader(const TokenDataset& dataset, const LoaderOptions& options, int64_t start_step)
    : ds_(dataset), o_(options), start_step_(start_step), step_(start_step) {
  if (o_.prefetch > 0) thread_ = std::thread(&Loader::worker, this);
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t Loader::sample_at(int64_t g) {
  const int64_t n = ds_.size();
  const int64_t epoch = g / n;
  std::lock_guard<std::mutex> lock(perm_mutex_);
  if (epoch != epoch_cached_) {
    perm_.resize(n);
    std::iota(perm_.begin(), perm_.end(), 0);
    std::mt19937_64 rng(o_.seed ^ (0xD1B54A32D192ED03ULL * uint64_t(epoch + 1)));
    std::shuffle(perm_.begin(), perm_.end(), rng);
    epoch_cached_ = epoch;
  }
  return perm_[g % n];
}

Batch Loader::make_batch(int64_t step, int64_t micro) {
  const int64_t B = o_.micro_batch, S = o_.seq_len;
  // Rows of S + 1 tokens; inputs are [:S], targets [1:]. Padded: one sample per row. Packed:
  // the same samples laid end to end, a new row when the next one does not fit, so the batch
  // has as few rows as they need (the last token of a sample is never trained to predict the
  // first of the next).
  std::vector<std::vector<int64_t>> ids, tgt;
  int64_t loss_tokens = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t G = B * o_.grad_accum * o_.world;
    const int64_t start = o_.start_sample >= 0 ? o_.start_sample : start_step_ * G;
    const int64_t g = start + (step - start_step_) * G + (micro * o_.world + o_.rank) * B + b;
    Sample s = ds_.sample(sample_at(g));
    const int64_t len = std::min<int64_t>(s.tokens.size(), S + 1);
    const int64_t from = int64_t(s.tokens.size()) - len;  // keep the last tokens
    if (ids.empty() || !o_.pack || int64_t(ids.back().size()) + len > S + 1) {
      ids.emplace_back();
      tgt.emplace_back();
    }
    auto& row_ids = ids.back();
    auto& row_tgt = tgt.back();
    for (int64_t t = 0; t < len; ++t) {
      row_ids.push_back(s.tokens[from + t]);
      const bool next_is_target = t + 1 < len && s.loss_mask[from + t + 1];
      row_tgt.push_back(next_is_target ? s.tokens[from + t + 1] : -100);
      loss_tokens += next_is_target && int64_t(row_tgt.size()) <= S;
    }
  }
  const int64_t rows = static_cast<int64_t>(ids.size());
  auto input = torch::full({rows, S}, o_.pad_id, torch::kLong);
  auto targets = torch::full({rows, S}, int64_t(-100), torch::kLong);
  for (int64_t r = 0; r < rows; ++r) {
    auto* pi = input.data_ptr<int64_t>() + r * S;
    auto* pt = targets.data_ptr<int64_t>() + r * S;
    for (int64_t t = 0; t < std::min<int64_t>(S, ids[r].size()); ++t)
      pi[t] = ids[r][t], pt[t] = tgt[r][t];
  }
  Batch batch;
  batch.input_ids_BS = input;
  batch.targets_BS = targets;
  batch.loss_tokens = loss_tokens;
  return batch;
}

void Loader::worker() {
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || int(ready_.size()) < o_.prefetch; });
        if (stop_) return;
      }
      const int64_t k = produced_;  // only this thread writes produced_
      Batch b = make_batch(start_step_ + k / o_.grad_accum, k % o_.grad_accum);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(b));
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

std::vector<Batch> Loader::next_step() {
  std::vector<Batch> out;
  for (int64_t m = 0; m < o_.grad_accum; ++m) {
    if (o_.prefetch == 0) {
      out.push_back(make_batch(step_, m));
      continue;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
    lock.unlock();
    cv_.notify_all();
  }
  ++step_;
  return out;
}

}  // namespace mofe::data
