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

// Rows [r, e) of the logits' gradient, (softmax - onehot) * valid * g, written into `out`;
// logits_RV holds those rows' logits.
void chunk_grad(torch::Tensor& out, const torch::Tensor& logits_RV, const torch::Tensor& safe_T,
                const torch::Tensor& valid_T, const torch::Tensor& lse_T, const torch::Tensor& g,
                int64_t r, int64_t e) {
  // softmax = exp(logits - lse), written straight into the gradient buffer.
  torch::sub_out(out, logits_RV, lse_T.slice(0, r, e).unsqueeze(1));
  out.exp_();
  out.scatter_add_(1, safe_T.slice(0, r, e).unsqueeze(1),
                   -torch::ones({e - r, 1}, logits_RV.options()));
  out.mul_((valid_T.slice(0, r, e).to(logits_RV.dtype()) * g).unsqueeze(1));
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
      chunk_grad(out, logits_TV.slice(0, r, e), safe_T, valid_T, lse_T, g, r, e);
    }
    return {grad_TV, torch::Tensor()};
  }
};

// The LM head and the loss in one: logits = h W^T row chunk by row chunk, and in backward each
// chunk's logit gradient goes straight into grad_h = grad_logits W (and, for a trainable head,
// grad_W += grad_logits^T h), so the [T, V] logit gradient never exists whole. keep_logits:
// the float32 logits are kept for backward (one [T, V] tensor); otherwise backward recomputes
// each chunk's logits (one more head matmul, no [T, V] tensor at all: --recompute).
// W keeps its own dtype (a float32 master, or a frozen weight); 16-bit h meets a 16-bit copy of
// it, and grad_W accumulates in W's dtype.
struct HeadLossFn : torch::autograd::Function<HeadLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h_TD,
                               const torch::Tensor& W_VD, const torch::Tensor& targets_T,
                               bool keep_logits) {
    const int64_t T = h_TD.size(0);
    auto Wc = like(W_VD, h_TD);
    const auto stats = h_TD.options().dtype(stats_dtype(h_TD));
    auto valid_T = targets_T != kIgnoreIndex;
    auto safe_T = targets_T.masked_fill(~valid_T, 0);
    auto lse_T = torch::empty({T}, stats);
    torch::Tensor logits_TV, loss;
    if (keep_logits) {
      logits_TV = torch::matmul(h_TD, Wc.t()).to(stats_dtype(h_TD));
      loss = chunked_loss(logits_TV, safe_T, valid_T, lse_T);
    } else {
      loss = torch::zeros({}, stats);
      for (int64_t r = 0; r < T; r += kChunkRows) {
        const int64_t e = std::min(T, r + kChunkRows);
        auto lse = lse_T.slice(0, r, e);
        auto chunk = torch::matmul(h_TD.slice(0, r, e), Wc.t()).to(stats_dtype(h_TD));
        loss += chunked_loss(chunk, safe_T.slice(0, r, e), valid_T.slice(0, r, e), lse);
      }
    }
    ctx->save_for_backward({h_TD, W_VD, safe_T, valid_T, lse_T, logits_TV});
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto &h_TD = saved[0], &W_VD = saved[1], &logits_TV = saved[5];
    const int64_t T = h_TD.size(0), V = W_VD.size(0);
    const auto stats = stats_dtype(h_TD);
    auto Wc = like(W_VD, h_TD);
    auto g = grad[0].to(stats);
    const bool need_w = ctx->needs_input_grad(1);
    auto grad_h = torch::empty_like(h_TD);
    torch::Tensor grad_W = need_w ? torch::zeros_like(W_VD) : torch::Tensor();
    auto scratch = torch::empty({std::min(T, kChunkRows), V}, h_TD.options().dtype(stats));
    for (int64_t r = 0; r < T; r += kChunkRows) {
      const int64_t e = std::min(T, r + kChunkRows);
      auto h_c = h_TD.slice(0, r, e);
      auto logits_c =
          logits_TV.defined() ? logits_TV.slice(0, r, e) : torch::matmul(h_c, Wc.t()).to(stats);
      auto out = scratch.slice(0, 0, e - r);
      chunk_grad(out, logits_c, saved[2], saved[3], saved[4], g, r, e);
      auto dst = grad_h.slice(0, r, e);
      if (out.scalar_type() == Wc.scalar_type())
        torch::matmul_out(dst, out, Wc);
      else  // 16-bit h: the float32 logit gradient meets W in h's dtype
        dst.copy_(torch::matmul(out.to(Wc.scalar_type()), Wc));
      if (need_w) grad_W.addmm_(like(out, W_VD).t(), like(h_c, W_VD));
    }
    return {grad_h, grad_W, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor head_loss_sum(const torch::Tensor& h_BSD, const torch::Tensor& W_VD,
                            const torch::Tensor& targets_BS, bool keep_logits) {
  auto h = h_BSD.reshape({-1, h_BSD.size(-1)}).contiguous();
  return HeadLossFn::apply(h, W_VD, targets_BS.reshape({-1}), keep_logits);
}

torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS) {
  auto logits = logits_BSV.reshape({-1, logits_BSV.size(-1)});
  if (logits.scalar_type() != torch::kDouble) logits = logits.to(torch::kFloat);
  return LmLossFn::apply(logits.contiguous(), targets_BS.reshape({-1}));
}

}  // namespace mofe::model
