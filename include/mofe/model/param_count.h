// Closed-form parameter counts of a model config: total, and what trains in each mode.
// In mofe mode the trainable count does not grow with the expert FFNs:
//   trainable = V*D*(tied ? 1 : 2) + D + L * (attn + 2*D + E*D)
// where only the router (E*D per layer, 0.05% of TinyLlama) grows with E; experts add nothing.
#pragma once

#include <cstdint>

#include "mofe/config/model_config.h"
#include "mofe/config/train_config.h"

namespace mofe::model {

struct ParamCount {
  int64_t total = 0;
  int64_t trainable = 0;
  int64_t frozen = 0;
  int64_t per_expert = 0;  // one expert FFN of one layer
  int64_t non_expert = 0;  // everything but the expert FFNs (router included)
};

ParamCount count_parameters(const config::ModelConfig& cfg, const config::TrainConfig& train);

}  // namespace mofe::model
