// Grouped-query causal self-attention (Llama): H query heads share G key/value heads,
// HF names q_proj, k_proj, v_proj, o_proj (no biases), rotary embedding on q and k.
#pragma once

#include <torch/torch.h>

#include "mofe/config/model_config.h"
#include "mofe/model/rope.h"

namespace mofe::model {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const config::ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x_BSD);  // [B, S, D] -> [B, S, D]

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
  RotaryEmbedding rope_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace mofe::model
