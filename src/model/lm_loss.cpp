#include "mofe/model/lm_loss.h"

#include "mofe/model/precision.h"

namespace mofe::model {

namespace {

constexpr int64_t kChunkRows = 256;  // [256, V] temporaries: 32 MB for V = 32000 in fp32

// Forward over row chunks: lse_T (written) and the summed loss of the valid rows.
torch::Tensor chunked_loss(const torch::Tensor& logits_TV, const torch::Tensor& safe_T,
                           const torch::Tensor& valid_T, torch::Tensor& lse_T) {
  const int64_t T = logits_TV.size(0);
  auto loss = torch::zeros({}, logits_TV.options());
  for (int64_t r = 0; r < T; r += kChunkRows) {
    const int64_t e = std::min(T, r + kChunkRows);
    auto chunk = logits_TV.slice(0, r, e);
    auto lse = torch::logsumexp(chunk, 1);
    lse_T.slice(0, r, e).copy_(lse);
    auto picked = chunk.gather(1, safe_T.slice(0, r, e).unsqueeze(1)).squeeze(1);
    loss += ((lse - picked) * valid_T.slice(0, r, e)).sum();
  }
  return loss;
}

// Rows [r, e) of the logits' gradient, (softmax - onehot) * valid * g, written into `out`.
void chunk_grad(torch::Tensor& out, const torch::Tensor& logits_TV, const torch::Tensor& safe_T,
                const torch::Tensor& valid_T, const torch::Tensor& lse_T, const torch::Tensor& g,
                int64_t r, int64_t e) {
  // softmax = exp(logits - lse), written straight into the gradient buffer.
  torch::sub_out(out, logits_TV.slice(0, r, e), lse_T.slice(0, r, e).unsqueeze(1));
  out.exp_();
  out.scatter_add_(1, safe_T.slice(0, r, e).unsqueeze(1),
                   -torch::ones({e - r, 1}, logits_TV.options()));
  out.mul_((valid_T.slice(0, r, e).to(logits_TV.dtype()) * g).unsqueeze(1));
}

struct LmLossFn : torch::autograd::Function<LmLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& logits_TV, const torch::Tensor& targets_T) {
    const int64_t T = logits_TV.size(0);
    auto valid_T = targets_T != kIgnoreIndex;
    auto safe_T = targets_T.masked_fill(~valid_T, 0);
    auto lse_T = torch::empty({T}, logits_TV.options());
    auto loss = chunked_loss(logits_TV, safe_T, valid_T, lse_T);
    ctx->save_for_backward({logits_TV, safe_T, valid_T, lse_T});
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto& logits_TV = saved[0];
    const auto& safe_T = saved[1];
    const auto& valid_T = saved[2];
    const auto& lse_T = saved[3];
    const int64_t T = logits_TV.size(0);
    auto g = grad[0].to(logits_TV.dtype());
    auto grad_TV = torch::empty_like(logits_TV);
    for (int64_t r = 0; r < T; r += kChunkRows) {
      const int64_t e = std::min(T, r + kChunkRows);
      auto out = grad_TV.slice(0, r, e);
      chunk_grad(out, logits_TV, safe_T, valid_T, lse_T, g, r, e);
    }
    return {grad_TV, torch::Tensor()};
  }
};

// The LM head and the loss in one: logits = h W^T (kept for backward, as above), and in
// backward each row chunk's logit gradient goes straight into grad_h = grad_logits W, so the
// [T, V] gradient never exists whole. W is frozen: no gradient for it.
struct HeadLossFn : torch::autograd::Function<HeadLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h_TD,
                               const torch::Tensor& W_VD, const torch::Tensor& targets_T) {
    const int64_t T = h_TD.size(0);
    // 16-bit activations: the product in their dtype, the log-softmax and loss in float32.
    auto W = like(W_VD, h_TD);
    auto logits_TV = torch::matmul(h_TD, W.t());
    logits_TV = logits_TV.to(stats_dtype(logits_TV));
    auto valid_T = targets_T != kIgnoreIndex;
    auto safe_T = targets_T.masked_fill(~valid_T, 0);
    auto lse_T = torch::empty({T}, logits_TV.options());
    auto loss = chunked_loss(logits_TV, safe_T, valid_T, lse_T);
    ctx->save_for_backward({logits_TV, safe_T, valid_T, lse_T, W});
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto& logits_TV = saved[0];
    const auto& W_VD = saved[4];
    const int64_t T = logits_TV.size(0);
    auto g = grad[0].to(logits_TV.dtype());
    auto grad_h = torch::empty({T, W_VD.size(1)}, W_VD.options());
    auto scratch = torch::empty({std::min(T, kChunkRows), logits_TV.size(1)}, logits_TV.options());
    for (int64_t r = 0; r < T; r += kChunkRows) {
      const int64_t e = std::min(T, r + kChunkRows);
      auto out = scratch.slice(0, 0, e - r);
      chunk_grad(out, logits_TV, saved[1], saved[2], saved[3], g, r, e);
      auto dst = grad_h.slice(0, r, e);
      if (out.scalar_type() == W_VD.scalar_type())
        torch::matmul_out(dst, out, W_VD);
      else  // 16-bit h: the float32 logit gradient meets W in W's dtype
        dst.copy_(torch::matmul(out.to(W_VD.scalar_type()), W_VD));
    }
    return {grad_h, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor head_loss_sum(const torch::Tensor& h_BSD, const torch::Tensor& W_VD,
                            const torch::Tensor& targets_BS) {
  auto h = h_BSD.reshape({-1, h_BSD.size(-1)}).contiguous();
  return HeadLossFn::apply(h, W_VD.detach(), targets_BS.reshape({-1}));
}

torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS) {
  auto logits = logits_BSV.reshape({-1, logits_BSV.size(-1)});
  if (logits.scalar_type() != torch::kDouble) logits = logits.to(torch::kFloat);
  return LmLossFn::apply(logits.contiguous(), targets_BS.reshape({-1}));
}

}  // namespace mofe::model
