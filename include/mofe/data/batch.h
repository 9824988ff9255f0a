// Batch: one micro-batch of token sequences for a causal LM.
#pragma once

#include <torch/torch.h>

namespace mofe::data {

struct Batch {
  torch::Tensor input_ids_BS;  // int64 [B, S]
  torch::Tensor targets_BS;    // int64 [B, S], next token; -100 where the loss is masked
  int64_t loss_tokens = 0;     // targets that count (not -100)
};

}  // namespace mofe::data
