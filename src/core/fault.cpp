#include "mofe/core/fault.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "mofe/core/error.h"
#include "mofe/core/log.h"

namespace mofe::fault {

namespace {

struct Fault {
  std::string point, action, text;
  int64_t rank = -1, step = -1;  // -1: any
  int my_rank = 0;
};

Fault& fault() {
  static Fault f;
  return f;
}

constexpr std::array<const char*, 6> kPoints = {
    "step", "loss", "grad", "checkpoint-write", "checkpoint-manifest", "checkpoint-latest"};
constexpr std::array<const char*, 7> kActions = {"throw", "exit", "kill", "hang",
                                                 "nan",   "inf",  "stop"};

template <typename A>
bool known(const A& list, const std::string& s) {
  for (const char* x : list)
    if (s == x) return true;
  return false;
}

int64_t number_or_any(const std::string& s, const std::string& text) {
  if (s.empty() || s == "*") return -1;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0' || v < 0)
    throw UsageError("MOFE_FAULT='" + text + "': '" + s + "' is not a rank/step number or *");
  return v;
}

bool fires(const char* point, int64_t step) {
  const Fault& f = fault();
  return !f.point.empty() && f.point == point && (f.rank < 0 || f.rank == f.my_rank) &&
         (f.step < 0 || f.step == step);
}

}  // namespace

void configure_from_env(int rank) {
  Fault& f = fault();
  f = Fault{};
  f.my_rank = rank;
  const char* env = std::getenv("MOFE_FAULT");
  if (!env || !*env) return;
  f.text = env;
  std::vector<std::string> parts;
  std::stringstream ss(f.text);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  if (parts.size() < 2 || parts.size() > 4)
    throw UsageError("MOFE_FAULT='" + f.text + "': expected POINT:ACTION[:RANK[:STEP]]");
  if (!known(kPoints, parts[0]))
    throw UsageError(
        "MOFE_FAULT='" + f.text + "': unknown point '" + parts[0] +
        "' (step, loss, grad, checkpoint-write, checkpoint-manifest, checkpoint-latest)");
  if (!known(kActions, parts[1]))
    throw UsageError("MOFE_FAULT='" + f.text + "': unknown action '" + parts[1] +
                     "' (throw, exit, kill, hang, nan, inf, stop)");
  if ((parts[0] == "loss") != (parts[1] == "nan"))
    throw UsageError("MOFE_FAULT='" + f.text + "': action nan goes with point loss, and only it");
  if ((parts[0] == "grad") != (parts[1] == "inf"))
    throw UsageError("MOFE_FAULT='" + f.text + "': action inf goes with point grad, and only it");
  f.point = parts[0];
  f.action = parts[1];
  if (parts.size() > 2) f.rank = number_or_any(parts[2], f.text);
  if (parts.size() > 3) f.step = number_or_any(parts[3], f.text);
}

void at(const char* point, int64_t step) {
  if (!fires(point, step)) return;
  const std::string& a = fault().action;
  log::error("fault injection (MOFE_FAULT=" + fault().text + "): " + a + " at " + point);
  if (a == "throw") throw Error(std::string("injected fault at ") + point);
  if (a == "exit") _exit(3);
  if (a == "kill") raise(SIGKILL);
  if (a == "stop") raise(SIGUSR1);
  if (a == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

bool nan_loss(int64_t step) { return fires("loss", step); }

bool inf_grad(int64_t step) { return fires("grad", step); }

std::string describe() { return fault().text; }

}  // namespace mofe::fault
