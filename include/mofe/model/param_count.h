// Closed-form parameter counts of a model config: total, and what trains in each mode.
// In mofe mode the trainable count does not grow with the expert FFNs:
//   trainable = V*D*(tied ? 1 : 2) + D + L * (attn + 2*D + E*D)
// where only the router (E*D per layer, 0.05% of TinyLlama) grows with E; experts add nothing.
// In the PEFT modes only adapters train: a LoRA of rank r on a projection in -> out adds
// r * (in + out), DoRA adds `out` magnitudes more; for TinyLlama (D 2048, 22 layers, 32 heads,
// 4 kv heads) r = 8 on q,k,v,o gives 22 * 8 * (4096 + 2304 + 2304 + 4096) = 2,252,800, and
// DoRA 22 * (2048 + 256 + 256 + 2048) = 101,376 more, whatever the number of experts.
#pragma once

#include <cstdint>

#include "mofe/config/model_config.h"
#include "mofe/config/peft_config.h"
#include "mofe/config/train_config.h"

namespace mofe::model {

struct ParamCount {
  int64_t total = 0;  // base weights + adapters
  int64_t trainable = 0;
  int64_t frozen = 0;
  int64_t adapters = 0;    // adapter tensors (PEFT modes)
  int64_t per_expert = 0;  // one expert FFN of one layer
  int64_t non_expert = 0;  // base weights but the expert FFNs (router included)
};

ParamCount count_parameters(const config::ModelConfig& cfg, const config::TrainConfig& train,
                            const config::PeftConfig& peft = {});

}  // namespace mofe::model
