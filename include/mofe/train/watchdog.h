// Watchdog (--step-timeout S): a thread that aborts the job when a training step makes no
// progress for S seconds, naming the collective this rank is stuck in (or last left). A peer
// that died without MPI noticing, a hung file system or a deadlock then ends the job with a
// message instead of burning the allocation. beat() at every step boundary; the checkpoint
// write counts as part of the step, so S must cover the slowest step plus a checkpoint.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace mofe::train {

class Watchdog {
 public:
  explicit Watchdog(double timeout_s);  // <= 0: off (no thread)
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void beat();  // progress was made

 private:
  void watch();
  double timeout_s_;
  std::atomic<int64_t> last_beat_ns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mofe::train
