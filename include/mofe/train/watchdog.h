// Watchdog (--step-timeout): a thread that aborts the job when a training step makes no
// progress for too long, naming the collective this rank is stuck in (or last left). A peer
// that died without MPI noticing, a hung file system or a deadlock then ends the job with a
// message instead of burning the allocation. beat() at every step boundary; the checkpoint
// write counts as part of the step.
//   --step-timeout S     fixed: S seconds (cover the slowest step plus a checkpoint)
//   --step-timeout auto  the default: max(floor, 20 x the slowest of the first 3 steps), and
//                        30 minutes (or the floor, if larger) until 3 steps have been seen;
//                        floor = --watchdog-floor, 600 s by default
//   --step-timeout 0     off
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace mofe::train {

// The auto timeout for the first step times seen so far (seconds).
double auto_step_timeout(const std::vector<double>& first_steps, double floor_s);

class Watchdog {
 public:
  // timeout_s: > 0 fixed, < 0 auto (with floor_s), 0 off (no thread).
  explicit Watchdog(double timeout_s, double floor_s = 600);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void beat();  // progress was made (a step boundary)
  double timeout() const { return timeout_s_.load(); }

 private:
  void watch();
  const bool auto_;
  const double floor_s_;
  std::atomic<double> timeout_s_;
  std::atomic<int64_t> last_beat_ns_{0};
  std::vector<double> first_steps_;  // beat() only (the training thread)
  int64_t beats_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mofe::train
