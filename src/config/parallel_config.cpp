#include "mofe/config/parallel_config.h"

#include <string>

#include "mofe/core/error.h"

namespace mofe::config {

void ParallelConfig::resolve(int world_size, int64_t num_experts) {
  if (ep_size <= 0) throw UsageError("--ep-size must be positive, got " + std::to_string(ep_size));
  if (dp_size < 0) throw UsageError("--dp-size must be >= 0, got " + std::to_string(dp_size));
  if (dp_size == 0) {
    if (world_size % ep_size != 0)
      throw UsageError("world size " + std::to_string(world_size) + " not divisible by ep_size(" +
                       std::to_string(ep_size) + ")");
    dp_size = world_size / ep_size;
  }
  if (ep_size * dp_size != world_size)
    throw UsageError("ep_size(" + std::to_string(ep_size) + ") * dp_size(" +
                     std::to_string(dp_size) + ") = " + std::to_string(ep_size * dp_size) +
                     " != world size " + std::to_string(world_size));
  if (num_experts > 0 && num_experts % ep_size != 0)
    throw UsageError("num_local_experts(" + std::to_string(num_experts) +
                     ") not divisible by ep_size(" + std::to_string(ep_size) + ")");
  if (num_experts == 0 && ep_size != 1)
    throw UsageError("a dense model (num_local_experts = 0) needs ep_size 1, got " +
                     std::to_string(ep_size));
}

}  // namespace mofe::config
