// Softmax cross-entropy of logit rows, the loss's value and its gradient in one pass per row.
//
// Why not LibTorch's ops: logsumexp makes four passes over [R, V] and a temporary of that size
// (amax, subtract, exp, sum), and the gradient would take three more (subtract, exp, scale).
// Here each row (128 KB at V = 32000) is read from memory once and stays in the core's cache
// while its maximum, its exponentials and their sum are formed; the exponentials are written
// in place of the softmax and scaled, so the row leaves the cache once. On x86-64 with glibc
// the vector exp is libmvec's (AVX-512, AVX2 or SSE copies chosen at load time); other CPUs run
// the same loops as scalar code; devices other than the CPU use LibTorch's ops
// (cross_entropy_rows_generic).
#pragma once

#include <torch/torch.h>

namespace mofe::model {

// x_RV [R, V] float32 or float64, contiguous. targets_R int64 (read only where valid_R is
// true), valid_R bool [R]. Writes loss_R [R] (x's dtype):
//   loss_r = logsumexp(x_r) - x_r[t_r] for a valid row, 0 otherwise,
// and, when grad_RV is defined ([R, V], x's dtype, contiguous; it may be x_RV itself):
//   grad_r = softmax(x_r) - onehot(t_r) for a valid row, a row of zeros otherwise.
void cross_entropy_rows(const torch::Tensor& x_RV, const torch::Tensor& targets_R,
                        const torch::Tensor& valid_R, torch::Tensor& loss_R,
                        const torch::Tensor& grad_RV = {});

// The same with LibTorch's ops: what other devices run (exposed so that CPU tests check it
// too; GPU machines are rare).
void cross_entropy_rows_generic(const torch::Tensor& x_RV, const torch::Tensor& targets_R,
                                const torch::Tensor& valid_R, torch::Tensor& loss_R,
                                const torch::Tensor& grad_RV = {});

}  // namespace mofe::model
