// Causal-LM loss: sum over positions of -log softmax(logits)[target]; targets equal to -100
// are ignored (the loss mask).
//
// Why not torch::nn::functional::cross_entropy: it keeps the [T, V] log-softmax for backward
// and backward allocates two more [T, V] tensors; with a 32000-word vocabulary that is 4 x 131
// MB per 1024 tokens, the largest activation of the step. This autograd function saves only
// the logits and the per-row log-sum-exp, and recomputes the softmax in backward, writing
// grad_logits = (softmax - onehot) * grad in one pass over row chunks.
#pragma once

#include <torch/torch.h>

namespace mofe::model {

constexpr int64_t kIgnoreIndex = -100;

// logits_BSV [B, S, V] (float32 or float64), targets_BS int64 [B, S]. Returns a scalar.
torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS);

// The same loss from the final hidden states and the head W [V, D] (frozen, or trainable: then
// W gets its gradient too): logits = h W^T inside, and backward produces grad_h (and grad_W)
// chunk by chunk, so the [T, V] logit gradient (131 MB per 1024 tokens at V = 32000) is never
// held whole. keep_logits = false: not even the logits are kept; backward recomputes them a
// chunk at a time (one more head matmul).
torch::Tensor head_loss_sum(const torch::Tensor& h_BSD, const torch::Tensor& W_VD,
                            const torch::Tensor& targets_BS, bool keep_logits = true);

}  // namespace mofe::model
