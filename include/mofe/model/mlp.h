// SwiGLU feed-forward block (Llama MLP): down(silu(gate(x)) * up(x)), HF names gate_proj,
// up_proj, down_proj (Mixtral calls them w1, w3, w2). A dense layer's FFN and the unit an
// expert is made of.
#pragma once

#include <torch/torch.h>

#include "mofe/model/projection.h"

namespace mofe::model {

class MLPImpl : public torch::nn::Module {
 public:
  // role: of the three weights (kDenseMlp in a dense layer, kExpert with its id in an expert).
  MLPImpl(int64_t hidden, int64_t intermediate, const ParamRole& role = {ParamKind::kDenseMlp},
          const BuildOptions& build = {});
  torch::Tensor forward(const torch::Tensor& x);  // [..., D] -> [..., D]

  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

// silu(g) * u (the SwiGLU gate) that keeps only g and u for backward.
torch::Tensor swiglu(const torch::Tensor& g, const torch::Tensor& u);

}  // namespace mofe::model
