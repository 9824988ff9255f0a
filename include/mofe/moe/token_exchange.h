// Token exchange: the only step of the MoE layer that moves activations between ranks.
// An autograd function: forward is a row all-to-all-v along a route (send/recv row counts per
// EP rank), backward sends the incoming gradients back along the reverse route, so gradients
// reach the layers below through frozen experts.
#pragma once

#include <torch/torch.h>

#include "mofe/dist/backend.h"
#include "mofe/moe/dispatch_plan.h"

namespace mofe::moe {

enum class Direction {
  kDispatch,  // token rows -> the ranks owning their experts   (send plan.send_rows)
  kCombine,   // expert outputs -> back to the tokens' ranks     (send plan.recv_rows)
};

// x_ND: rows in the order the direction sends them. Collective over `ep`.
torch::Tensor exchange(const torch::Tensor& x_ND, const DispatchPlan& plan, Direction direction,
                       dist::CommBackend& backend, const dist::Communicator& ep);

}  // namespace mofe::moe
