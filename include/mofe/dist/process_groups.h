// Process groups of the 2-D mesh (expert-parallel x data-parallel) and the placement of experts.
// Built once from ParallelConfig and passed by const& to every component that communicates.
//
// Rank table for world 8, ep_size 4, dp_size 2 (ep color = rank / ep_size: contiguous, so an
// EP group tends to stay inside a node; dp color = rank % ep_size: strided):
//   world rank : 0 1 2 3 | 4 5 6 7
//   ep group   : 0 0 0 0 | 1 1 1 1      ep rank = rank % ep_size
//   dp group   : 0 1 2 3 | 0 1 2 3      dp rank = rank / ep_size
// With 8 experts each EP rank owns 2 contiguous experts: ep rank r owns experts [2r, 2r+2).
#pragma once

#include <cstdint>

#include "mofe/config/parallel_config.h"
#include "mofe/dist/communicator.h"

namespace mofe::dist {

// Which global experts live on which EP rank. Contiguous blocks, so sorting routed rows by
// global expert id also sorts them by owner rank.
struct ExpertPlacement {
  int64_t num_experts = 0;
  int ep_size = 1;
  int ep_rank = 0;

  int64_t per_rank() const { return ep_size > 0 ? num_experts / ep_size : 0; }
  int owner(int64_t expert) const { return static_cast<int>(expert / per_rank()); }
  int64_t first_local() const { return ep_rank * per_rank(); }
  int64_t num_local() const { return per_rank(); }
  bool is_local(int64_t expert) const { return owner(expert) == ep_rank; }
};

struct ProcessGroups {
  Communicator world;  // all ranks: dense (non-expert) gradients, global token counts, metrics
  Communicator ep;     // token all-to-all between the holders of one copy of every expert
  Communicator dp;     // ranks holding replicas of the same experts: trainable-expert gradients
  ExpertPlacement placement;

  // Collective over `world`. `parallel` must already be resolved (ParallelConfig::resolve).
  static ProcessGroups build(const Communicator& world, const config::ParallelConfig& parallel,
                             int64_t num_experts);
};

}  // namespace mofe::dist
