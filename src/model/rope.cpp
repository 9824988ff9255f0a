#include "mofe/model/rope.h"

namespace mofe::model {

RotaryEmbeddingImpl::RotaryEmbeddingImpl(int64_t head_dim, int64_t max_positions, double theta) {
  // inv_freq[i] = theta^(-2i/Dh), angles computed in float64 then stored in the default dtype.
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto inv_freq = torch::pow(theta, -torch::arange(0, head_dim, 2, opts) / double(head_dim));
  auto t = torch::arange(max_positions, opts);
  auto freqs = torch::outer(t, inv_freq);     // [S, Dh/2]
  auto emb = torch::cat({freqs, freqs}, -1);  // [S, Dh]
  cos_SDh_ = register_buffer("cos", emb.cos().to(torch::get_default_dtype()));
  sin_SDh_ = register_buffer("sin", emb.sin().to(torch::get_default_dtype()));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

torch::Tensor RotaryEmbeddingImpl::forward(const torch::Tensor& x) {
  const int64_t S = x.size(-2);
  TORCH_CHECK(S <= cos_SDh_.size(0), "sequence length ", S, " exceeds max_position_embeddings ",
              cos_SDh_.size(0));
  auto cos = cos_SDh_.slice(0, 0, S).to(x.dtype());
  auto sin = sin_SDh_.slice(0, 0, S).to(x.dtype());
  return x * cos + rotate_half(x) * sin;
}

torch::Tensor RotaryEmbeddingImpl::forward_at(const torch::Tensor& x,
                                              const torch::Tensor& positions_BS) {
  const int64_t B = x.size(0), S = x.size(-2), Dh = x.size(-1);
  TORCH_CHECK(positions_BS.numel() == 0 || positions_BS.max().item<int64_t>() < cos_SDh_.size(0),
              "position exceeds max_position_embeddings ", cos_SDh_.size(0));
  auto flat = positions_BS.reshape({-1}).to(cos_SDh_.device());
  auto cos = cos_SDh_.index_select(0, flat).view({B, 1, S, Dh}).to(x.dtype());
  auto sin = sin_SDh_.index_select(0, flat).view({B, 1, S, Dh}).to(x.dtype());
  return x * cos + rotate_half(x) * sin;
}

}  // namespace mofe::model
