#include "mofe/dist/process_groups.h"

#include "mofe/core/error.h"

namespace mofe::dist {

ProcessGroups ProcessGroups::build(const Communicator& world,
                                   const config::ParallelConfig& parallel, int64_t num_experts) {
  const int ep_size = parallel.ep_size;
  if (ep_size * parallel.dp_size != world.size())
    throw UsageError("ep_size(" + std::to_string(ep_size) + ") * dp_size(" +
                     std::to_string(parallel.dp_size) + ") != world size " +
                     std::to_string(world.size()));
  ProcessGroups g;
  g.world = world.split(0, world.rank(), "world");
  g.ep = world.split(world.rank() / ep_size, world.rank(), "ep");
  g.dp = world.split(world.rank() % ep_size, world.rank(), "dp");
  g.placement = ExpertPlacement{num_experts, ep_size, g.ep.rank()};
  return g;
}

}  // namespace mofe::dist
