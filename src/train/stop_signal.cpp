#include "mofe/train/stop_signal.h"

#include <time.h>

#include <atomic>
#include <csignal>

namespace mofe::train {

namespace {
// Process-wide by nature: a signal handler can reach nothing else. Both are lock-free, and
// clock_gettime is async-signal-safe, so the handler stays within what POSIX allows.
volatile std::sig_atomic_t g_stop = 0;
std::atomic<int64_t> g_stop_ns{0};
static_assert(std::atomic<int64_t>::is_always_lock_free);

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" void on_stop_signal(int) {
  int64_t none = 0;
  g_stop_ns.compare_exchange_strong(none, monotonic_ns());
  g_stop = 1;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_stop != 0; }
void request_stop() { on_stop_signal(0); }

double seconds_since_stop_request() {
  const int64_t t = g_stop_ns.load();
  return t == 0 ? 0.0 : (monotonic_ns() - t) * 1e-9;
}

}  // namespace mofe::train
