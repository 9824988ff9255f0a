#include "mofe/core/log.h"

#include <cstdio>

namespace mofe::log {

Identity& identity() {
  static Identity id;
  return id;
}

std::string prefix() {
  const Identity& id = identity();
  std::string p = "[rank " + std::to_string(id.rank) + "/" + std::to_string(id.world);
  if (id.step >= 0) p += " step " + std::to_string(id.step);
  return p + "]";
}

void info0(const std::string& msg) {
  if (identity().rank != 0) return;
  std::fprintf(stdout, "%s\n", msg.c_str());
  std::fflush(stdout);
}

void info(const std::string& msg) {
  std::fprintf(stdout, "%s %s\n", prefix().c_str(), msg.c_str());
  std::fflush(stdout);
}

void warn0(const std::string& msg) {
  if (identity().rank != 0) return;
  std::fprintf(stderr, "warning: %s\n", msg.c_str());
  std::fflush(stderr);
}

void error(const std::string& msg) {
  std::fprintf(stderr, "%s %s\n", prefix().c_str(), msg.c_str());
  std::fflush(stderr);
}

}  // namespace mofe::log
