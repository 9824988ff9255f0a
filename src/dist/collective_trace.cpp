#include "mofe/dist/collective_trace.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace mofe::dist {

namespace {
using Clock = std::chrono::steady_clock;

struct Trace {
  std::mutex mu;
  const char* op = nullptr;
  std::string comm;
  int size = 0;
  bool inside = false;
  Clock::time_point since;  // entered (inside) or left (not inside)
};

Trace& trace() {
  static Trace t;
  return t;
}
}  // namespace

CollectiveScope::CollectiveScope(const char* op, const Communicator& comm) {
  Trace& t = trace();
  std::lock_guard<std::mutex> lock(t.mu);
  t.op = op;
  t.comm = comm.name();
  t.size = comm.size();
  t.inside = true;
  t.since = Clock::now();
}

CollectiveScope::~CollectiveScope() {
  Trace& t = trace();
  std::lock_guard<std::mutex> lock(t.mu);
  t.inside = false;
  t.since = Clock::now();
}

std::string describe_last_collective() {
  Trace& t = trace();
  std::lock_guard<std::mutex> lock(t.mu);
  if (!t.op) return "none yet";
  const double s = std::chrono::duration<double>(Clock::now() - t.since).count();
  char b[256];
  std::snprintf(
      b, sizeof b,
      t.inside ? "in %s on %s (%d ranks) for %.1f s" : "last: %s on %s (%d ranks), left %.1f s ago",
      t.op, t.comm.c_str(), t.size, s);
  return b;
}

}  // namespace mofe::dist
