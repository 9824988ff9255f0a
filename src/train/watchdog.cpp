#include "mofe/train/watchdog.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/dist/collective_trace.h"
#include "mofe/dist/mpi_env.h"

namespace mofe::train {

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

double auto_step_timeout(const std::vector<double>& first_steps, double floor_s) {
  if (first_steps.size() < 3) return std::max(floor_s, 1800.0);
  double slowest = 0;
  for (double s : first_steps) slowest = std::max(slowest, s);
  return std::max(floor_s, 20 * slowest);
}

Watchdog::Watchdog(double timeout_s, double floor_s)
    : auto_(timeout_s < 0), floor_s_(floor_s), timeout_s_(timeout_s) {
  if (auto_) timeout_s_ = auto_step_timeout({}, floor_s_);
  last_beat_ns_.store(now_ns());
  if (timeout_s != 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::beat() {
  const int64_t now = now_ns();
  // The first beat starts the first step; the next three end the first three.
  if (auto_ && beats_ > 0 && first_steps_.size() < 3) {
    first_steps_.push_back((now - last_beat_ns_.load()) * 1e-9);
    timeout_s_ = auto_step_timeout(first_steps_, floor_s_);
  }
  ++beats_;
  last_beat_ns_.store(now);
}

void Watchdog::watch() {
  // Poll often enough to fire within ~10% of the timeout, at most once a second.
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const auto period = std::chrono::duration<double>(std::min(1.0, timeout_s_.load() / 10));
    if (cv_.wait_for(lock, period, [this] { return stop_; })) return;
    const double idle = (now_ns() - last_beat_ns_.load()) * 1e-9;
    const double limit = timeout_s_.load();
    if (idle < limit) continue;
    char msg[512];
    std::snprintf(msg, sizeof msg,
                  "watchdog: no progress for %.1f s (--step-timeout %s%g); collective: %s; "
                  "aborting the job",
                  idle, auto_ ? "auto: " : "", limit, dist::describe_last_collective().c_str());
    log::error(msg);
    // MPI_Abort is safe from this thread (MPI_THREAD_MULTIPLE) and takes down every rank,
    // wherever it is blocked; alone, there is nobody else to release.
    dist::MpiEnv::abort(kExitFailure);
  }
}

}  // namespace mofe::train
