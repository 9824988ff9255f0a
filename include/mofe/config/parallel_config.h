// ParallelConfig: the 2-D rank mesh, expert-parallel size x data-parallel size.
#pragma once

#include <cstdint>

namespace mofe::config {

struct ParallelConfig {
  int ep_size = 1;  // ranks that together hold one copy of every expert
  int dp_size = 0;  // replicas of that group; 0 = world_size / ep_size

  // Resolves dp_size and checks ep*dp == world and experts % ep == 0; throws UsageError
  // with the arithmetic in the message ("ep_size(4) * dp_size(3) = 12 != world size 8").
  void resolve(int world_size, int64_t num_experts);
};

}  // namespace mofe::config
