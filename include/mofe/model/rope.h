// Rotary position embedding in the Hugging Face convention (rotate_half: the head dimension is
// split into two halves, not interleaved pairs), so that HF Llama weights load unchanged.
#pragma once

#include <torch/torch.h>

namespace mofe::model {

class RotaryEmbeddingImpl : public torch::nn::Module {
 public:
  RotaryEmbeddingImpl(int64_t head_dim, int64_t max_positions, double theta);
  // x: [B, H, S, Dh] -> same shape, positions 0..S-1.
  torch::Tensor forward(const torch::Tensor& x);
  // x: [B, H, S, Dh], positions_BS: int64 [B, S] -> same shape, at those positions.
  torch::Tensor forward_at(const torch::Tensor& x, const torch::Tensor& positions_BS);

 private:
  torch::Tensor cos_SDh_, sin_SDh_;  // buffers [max_positions, Dh]
};
TORCH_MODULE(RotaryEmbedding);

// cat(-x[..., Dh/2:], x[..., :Dh/2])
torch::Tensor rotate_half(const torch::Tensor& x);

}  // namespace mofe::model
