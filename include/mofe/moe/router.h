// TopKRouter (Mixtral "gate"): linear without bias -> softmax over all E experts -> top-k ->
// top-k weights renormalised to sum to 1. Local math, no communication here.
#pragma once

#include <torch/torch.h>

#include "mofe/model/projection.h"
#include "mofe/moe/routing.h"

namespace mofe::moe {

// softmax over the E logits (float32 for 16-bit activations, as HF Mixtral) -> top-k -> the
// top-k probabilities renormalised to sum to 1. Shared by the MoE router and PERFT-R's.
RoutingResult route_top_k(const torch::Tensor& logits_TE, int64_t top_k);

struct TopKRouterOptions {
  TopKRouterOptions(int64_t hidden, int64_t num_experts)
      : hidden_(hidden), num_experts_(num_experts) {}
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, num_experts);
  /// experts chosen per token
  TORCH_ARG(int64_t, top_k) = 2;
  /// decoder layer (for the weight's role)
  TORCH_ARG(int64_t, layer) = -1;
};

class TopKRouterImpl : public torch::nn::Module {
 public:
  explicit TopKRouterImpl(const TopKRouterOptions& options, const model::BuildOptions& build = {});
  RoutingResult forward(const torch::Tensor& x_TD);

  model::Projection gate{nullptr};  // weight [E, D]; HF name block_sparse_moe.gate
  TopKRouterOptions options;
};
TORCH_MODULE(TopKRouter);

}  // namespace mofe::moe
