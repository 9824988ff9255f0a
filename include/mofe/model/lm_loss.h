// Causal-LM loss: sum over positions of -log softmax(logits)[target]; targets equal to -100
// are ignored (the loss mask).
//
// Both functions form the loss's gradient in the forward pass, where the softmax is at hand
// (model/cross_entropy.h), and keep only that gradient for backward, which multiplies it by
// the incoming scalar (the loss is a sum, so its gradient is linear in that scalar; the
// fused linear cross-entropy of Liger-Kernel does the same). Why not
// torch::nn::functional::cross_entropy: it keeps the [T, V] log-softmax for backward and
// backward allocates two more [T, V] tensors; with a 32000-word vocabulary that is 4 x 131 MB
// per 1024 tokens, the largest activation of the step. The gradient is formed only when
// autograd will want it (grad mode on and an input that requires grad).
#pragma once

#include <torch/torch.h>

namespace mofe::model {

constexpr int64_t kIgnoreIndex = -100;

// logits_BSV [B, S, V] (float32 or float64), targets_BS int64 [B, S]. Returns a scalar. Keeps
// the [T, V] gradient of the logits for backward (the same size as the logits it replaces).
torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS);

// The same loss from the final hidden states and the head W [V, D] (frozen, or trainable: then
// W gets its gradient too): logits = h W^T, a chunk of rows at a time. Forward computes each
// chunk's logits, its loss and softmax - onehot in place, and from that chunk grad_h
// (and grad_W); no [T, V] tensor exists at any time, and backward keeps grad_h [T, D] and
// grad_W [V, D] only (grad_W is W's gradient anyway).
torch::Tensor head_loss_sum(const torch::Tensor& h_BSD, const torch::Tensor& W_VD,
                            const torch::Tensor& targets_BS);

}  // namespace mofe::model
