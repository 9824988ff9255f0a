#include "mofe/model/lm_loss.h"

namespace mofe::model {

namespace {

constexpr int64_t kChunkRows = 256;  // [256, V] temporaries: 32 MB for V = 32000 in fp32

struct LmLossFn : torch::autograd::Function<LmLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& logits_TV, const torch::Tensor& targets_T) {
    const int64_t T = logits_TV.size(0);
    auto valid_T = targets_T != kIgnoreIndex;
    auto safe_T = targets_T.masked_fill(~valid_T, 0);
    auto lse_T = torch::empty({T}, logits_TV.options());
    auto loss = torch::zeros({}, logits_TV.options());
    for (int64_t r = 0; r < T; r += kChunkRows) {
      const int64_t e = std::min(T, r + kChunkRows);
      auto chunk = logits_TV.slice(0, r, e);
      auto lse = torch::logsumexp(chunk, 1);
      lse_T.slice(0, r, e).copy_(lse);
      auto picked = chunk.gather(1, safe_T.slice(0, r, e).unsqueeze(1)).squeeze(1);
      loss += ((lse - picked) * valid_T.slice(0, r, e)).sum();
    }
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
      // softmax = exp(logits - lse), written straight into the gradient buffer.
      torch::sub_out(out, logits_TV.slice(0, r, e), lse_T.slice(0, r, e).unsqueeze(1));
      out.exp_();
      out.scatter_add_(1, safe_T.slice(0, r, e).unsqueeze(1),
                       -torch::ones({e - r, 1}, logits_TV.options()));
      out.mul_((valid_T.slice(0, r, e).to(logits_TV.dtype()) * g).unsqueeze(1));
    }
    return {grad_TV, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS) {
  auto logits = logits_BSV.reshape({-1, logits_BSV.size(-1)});
  if (logits.scalar_type() != torch::kDouble) logits = logits.to(torch::kFloat);
  return LmLossFn::apply(logits.contiguous(), targets_BS.reshape({-1}));
}

}  // namespace mofe::model
