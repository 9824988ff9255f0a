#include <cstdio>

#include "mofe/cli/commands.h"

#include "mofe/core/error.h"
#include "mofe/core/memory.h"
#include "mofe/dist/communicator.h"

namespace mofe::cli {

bool agree_on_setup(const std::function<void()>& parse, const dist::MpiEnv& env) {
  std::string message;
  try {
    parse();
  } catch (const UsageError& e) {
    message = e.what();
  } catch (const IoError& e) {
    message = e.what();
  }
  const int64_t mine = message.empty() ? env.world_size() : env.world_rank();
  const int64_t first_bad = dist::Communicator::world().all_reduce(mine, dist::Reduce::kMin);
  if (first_bad == env.world_size()) return true;
  if (env.world_rank() == first_bad) {
    if (env.world_size() > 1 && first_bad != 0)
      std::fprintf(stderr, "mofe: error (rank %d): %s\n", int(first_bad), message.c_str());
    else
      std::fprintf(stderr, "mofe: error: %s\n", message.c_str());
    std::fflush(stderr);
  }
  return false;
}

std::vector<double> peak_rss_per_rank() {
  return dist::Communicator::world().all_gather(core::peak_rss_mb());
}

}  // namespace mofe::cli
