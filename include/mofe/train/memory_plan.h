// MemoryPlan: what each rank of a run will hold, computed from the config alone (no model is
// built), for `mofe train --dry-run` and to compare against measured memory in `mofe bench`.
//   parameters   every base weight and adapter of this rank (its experts only), trainable and
//                frozen, with the bytes of their storage (float32, bf16, nf4, ...)
//   gradients    one buffer per trainable parameter, in the parameters' dtype (float32
//                masters under mixed precision)
//   optimizer    AdamW's two moments per trainable parameter, in the parameters' dtype
//   activations  an estimate of what one micro-batch keeps for backward: per layer the norm
//                inputs and outputs, q/k/v and the rotated q/k, the attention scores and
//                probabilities (B x H x S x S each), the attention output, the routed rows
//                and each expert's F-wide intermediates (gate and up; their product too when
//                the experts train), in the compute dtype (2 bytes under mixed precision);
//                a block --recompute reruns keeps only its input (plus one block's worth in
//                backward); and the head's float32 logits (kept, or with --recompute a chunk;
//                an adapted or tied head also holds their [T, V] gradient)
// The peak estimate is their sum; it leaves out the allocator's slack and the libraries'
// own memory (LibTorch, MPI: a few hundred MB), which `mofe bench` shows as the difference.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mofe/config/run_config.h"

namespace mofe::train {

struct RankPlan {
  int ep_rank = 0;
  int64_t params = 0, trainable = 0, frozen = 0;
  std::map<std::string, int64_t> frozen_bytes;  // by storage
  int64_t weight_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  int64_t peak_bytes() const {
    return weight_bytes + grad_bytes + optimizer_bytes + activation_bytes;
  }
};

struct MemoryPlan {
  std::vector<RankPlan> ranks;  // one per expert-parallel rank (dp replicas are identical)
  int64_t params = 0, trainable = 0, frozen = 0;  // the whole model, every expert once
  std::map<std::string, int64_t> frozen_bytes;
};

// cfg must be validated (parallel layout resolved).
MemoryPlan plan_memory(const config::RunConfig& cfg);

// The dry run's report, a table for people.
std::string format_memory_plan(const config::RunConfig& cfg, const MemoryPlan& plan);

}  // namespace mofe::train
