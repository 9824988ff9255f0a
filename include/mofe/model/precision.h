// Mixed precision's rules, in one place for every module (--precision bf16-mixed|fp16-mixed):
//   - activations (and so matmuls) run in the compute dtype, bf16 or fp16: the embedding's
//     output is cast to it once, and everything downstream stays in it;
//   - a trainable weight is kept in float32 (the master copy the optimizer updates) and meets
//     an activation as a 16-bit copy, like(w, x); autograd casts its gradient back to float32,
//     so gradients are summed and clipped in float32;
//   - statistics that lose too much in 16 bits are computed in float32, stats_dtype(x): RMSNorm's
//     mean square, the attention and router softmax, the head's log-softmax and the loss (as
//     Hugging Face Llama/Mixtral and Megatron do).
// In fp32/float64 runs every helper is the identity (the same tensors, the same arithmetic).
#pragma once

#include <torch/torch.h>

#include <string>

namespace mofe::model {

inline bool is_16bit(torch::ScalarType t) { return t == torch::kBFloat16 || t == torch::kHalf; }

// w in x's dtype (w itself when they agree).
inline torch::Tensor like(const torch::Tensor& w, const torch::Tensor& x) {
  return w.scalar_type() == x.scalar_type() ? w : w.to(x.scalar_type());
}

// The dtype statistics of x are computed in: float32 for 16-bit x, else x's own.
inline torch::ScalarType stats_dtype(const torch::Tensor& x) {
  return is_16bit(x.scalar_type()) ? torch::kFloat : x.scalar_type();
}

// softmax over `dim` computed in stats_dtype(x), returned in x's dtype.
inline torch::Tensor softmax_in_stats(const torch::Tensor& x, int64_t dim) {
  if (!is_16bit(x.scalar_type())) return torch::softmax(x, dim);
  return torch::softmax(x, dim, torch::kFloat).to(x.scalar_type());
}

// --precision: fp32 -> float32, bf16-mixed -> bfloat16, fp16-mixed -> float16 (the compute
// dtype; master weights stay float32).
torch::ScalarType compute_dtype(const std::string& precision);

// Refuses (UsageError naming --precision and the device) a precision whose 16-bit matmul this
// LibTorch cannot run on `device`: it tries one small product, before any work.
void check_precision_supported(const std::string& precision, const torch::Device& device);

}  // namespace mofe::model
