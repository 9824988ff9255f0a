// RoutingResult: what the router decided for T tokens. A plain value, no behaviour.
#pragma once

#include <torch/torch.h>

namespace mofe::moe {

struct RoutingResult {
  torch::Tensor topk_ids_TK;      // int64 [T, K], global expert id per (token, slot)
  torch::Tensor topk_weights_TK;  // [T, K], top-k probabilities renormalised to sum to 1
  torch::Tensor probs_TE;         // [T, E], softmax over all experts (for the aux loss)
};

}  // namespace mofe::moe
