// Combine: expert outputs (one row per routed (token, slot), in the plan's sorted order) ->
// y_TD = sum over the token's K slots of weight * expert output. Unpermute + weighted
// scatter-add; gradients reach the router through the weights. Local math, no communication.
#pragma once

#include <torch/torch.h>

#include "mofe/moe/dispatch_plan.h"

namespace mofe::moe {

torch::Tensor combine(const torch::Tensor& y_ND, const DispatchPlan& plan,
                      const torch::Tensor& topk_weights_TK);

}  // namespace mofe::moe
