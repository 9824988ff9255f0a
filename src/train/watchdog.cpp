#include "mofe/train/watchdog.h"

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

Watchdog::Watchdog(double timeout_s) : timeout_s_(timeout_s) {
  beat();
  if (timeout_s_ > 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::beat() { last_beat_ns_.store(now_ns()); }

void Watchdog::watch() {
  // Poll often enough to fire within ~10% of the timeout, at most once a second.
  const auto period = std::chrono::duration<double>(std::min(1.0, timeout_s_ / 10));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
    const double idle = (now_ns() - last_beat_ns_.load()) * 1e-9;
    if (idle < timeout_s_) continue;
    char msg[512];
    std::snprintf(msg, sizeof msg,
                  "watchdog: no progress for %.1f s (--step-timeout %g); collective: %s; "
                  "aborting the job",
                  idle, timeout_s_, dist::describe_last_collective().c_str());
    log::error(msg);
    // MPI_Abort is safe from this thread (MPI_THREAD_MULTIPLE) and takes down every rank,
    // wherever it is blocked; alone, there is nobody else to release.
    dist::MpiEnv::abort(kExitFailure);
  }
}

}  // namespace mofe::train
