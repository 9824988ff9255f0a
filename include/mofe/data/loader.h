// Loader: deterministic, resumable batches for one rank, read ahead on a background thread.
//
// Order is defined on a *global sample index*: optimizer step s starts at global index
// base(s) = start_sample + (s - start_step) * G, G = micro_batch * accum * world the global
// batch, and micro-step m on rank r reads g = base(s) + (m * world + r) * micro_batch + i.
// Index g is sample perm_e[g mod n] of epoch e = g / n, perm_e a seeded shuffle of the dataset.
// So every sample is seen once per epoch across all ranks, the same seed gives the same order,
// and the position to resume from is the number of samples consumed, whatever the number of
// ranks and whatever the global batch of the resumed run (a fresh run: base(s) = s * G).
//
// Rows hold seq_len + 1 tokens: inputs are tokens[:-1], targets tokens[1:] where the loss mask
// is 1 and -100 elsewhere (and on padding). Longer samples keep their last tokens. Padded mode
// gives each sample its own row; packed mode (--pack) lays the micro-batch's samples end to end
// in as few rows as they need, so the same samples cost fewer rows (the order is unchanged).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "mofe/data/batch.h"
#include "mofe/data/dataset.h"

namespace mofe::data {

struct LoaderOptions {
  int64_t micro_batch = 8, seq_len = 64, grad_accum = 1;
  int rank = 0, world = 1;
  uint64_t seed = 1234;
  int64_t pad_id = 0;
  int prefetch = 4;           // micro-batches read ahead; 0 reads on demand
  bool pack = false;          // lay a micro-batch's samples end to end in as few rows as they need
  int64_t start_sample = -1;  // global index where start_step begins; -1: start_step * G
};

class Loader {
 public:
  Loader(const TokenDataset& dataset, const LoaderOptions& options, int64_t start_step = 0);
  ~Loader();
  // The micro-batches of the next optimizer step, in order.
  std::vector<Batch> next_step();
  int64_t step() const { return step_; }  // next step to be returned: the resume position

  // Global sample id at global index g (exposed for tests).
  int64_t sample_at(int64_t global_index);
  Batch make_batch(int64_t step, int64_t micro);

 private:
  void worker();
  const TokenDataset& ds_;
  LoaderOptions o_;
  const int64_t start_step_;
  int64_t step_;  // main thread only
  int64_t epoch_cached_ = -1;
  std::vector<int64_t> perm_;
  std::mutex perm_mutex_;

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  int64_t produced_ = 0;  // micro-batches produced since start_step
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace mofe::data
