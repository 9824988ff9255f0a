// Model FLOPs of one training step, counted from the config (matmuls only; elementwise work is
// not counted, as in the usual MFU definition). Split into forward, input-gradient and
// weight-gradient work so that what `mofe` mode skips is visible: frozen experts still need
// input gradients (to reach the attention below them) but no weight gradients.
#pragma once

#include <cstdint>

#include "mofe/config/model_config.h"
#include "mofe/config/train_config.h"

namespace mofe::model {

struct StepFlops {
  double forward = 0;
  double input_grad = 0;
  double weight_grad = 0;
  double expert_weight_grad_skipped = 0;  // weight-gradient work of frozen experts (not done)
  double total() const { return forward + input_grad + weight_grad; }
};

// `tokens`: tokens processed (per rank or global, the result scales with it). Attention scores
// are counted over the full S x S square, as the kernel computes them before masking.
StepFlops step_flops(const config::ModelConfig& cfg, const config::TrainConfig& train,
                     int64_t tokens, int64_t seq_len);

}  // namespace mofe::model
