#include "mofe/model/lm_loss.h"

#include <algorithm>

#include "mofe/model/cross_entropy.h"
#include "mofe/model/precision.h"

namespace mofe::model {

namespace {

constexpr int64_t kChunkRows = 256;  // [256, V] logits at a time: 32 MB for V = 32000 in fp32

// The gradient kept by forward, scaled by the incoming scalar in place and handed on once
// (a second backward through the same graph would find it gone and say so).
torch::Tensor take_scaled(torch::autograd::AutogradContext* ctx, const char* key,
                          const torch::Tensor& g) {
  auto it = ctx->saved_data.find(key);
  TORCH_CHECK(it != ctx->saved_data.end(), "lm loss: backward ran twice through one forward");
  auto grad = it->second.toTensor();
  ctx->saved_data.erase(it);
  return grad.defined() ? grad.mul_(g) : grad;
}

struct LmLossFn : torch::autograd::Function<LmLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& logits_TV, const torch::Tensor& targets_T,
                               bool with_grad) {
    auto loss_T = torch::empty({logits_TV.size(0)}, logits_TV.options());
    torch::Tensor grad_TV = with_grad ? torch::empty_like(logits_TV) : torch::Tensor();
    cross_entropy_rows(logits_TV, targets_T, targets_T != kIgnoreIndex, loss_T, grad_TV);
    ctx->saved_data["grad"] = grad_TV;
    return loss_T.sum();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    return {take_scaled(ctx, "grad", grad[0]), torch::Tensor(), torch::Tensor()};
  }
};

// The LM head and the loss in one (see the header). W keeps its own dtype (a float32 master,
// or a frozen weight); 16-bit h meets a 16-bit copy of it, the logits and their softmax are in
// float32 (stats_dtype), and grad_W is formed in W's dtype.
struct HeadLossFn : torch::autograd::Function<HeadLossFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h_TD,
                               const torch::Tensor& W_VD, const torch::Tensor& targets_T,
                               bool need_h, bool need_w) {
    const int64_t T = h_TD.size(0), V = W_VD.size(0);
    const auto stats = stats_dtype(h_TD);
    auto Wc = like(W_VD, h_TD);
    auto valid_T = targets_T != kIgnoreIndex;
    auto loss_T = torch::empty({T}, h_TD.options().dtype(stats));
    auto scratch = torch::empty({std::min(T, kChunkRows), V}, h_TD.options().dtype(stats));
    torch::Tensor grad_h = need_h ? torch::empty_like(h_TD) : torch::Tensor(), grad_W;
    for (int64_t r = 0; r < T; r += kChunkRows) {
      const int64_t e = std::min(T, r + kChunkRows);
      auto h_c = h_TD.slice(0, r, e);
      auto x = scratch.slice(0, 0, e - r);  // logits, then softmax - onehot in place
      if (h_c.scalar_type() == stats)
        torch::mm_out(x, h_c, Wc.t());
      else
        x.copy_(torch::matmul(h_c, Wc.t()));
      auto loss_c = loss_T.slice(0, r, e);
      cross_entropy_rows(x, targets_T.slice(0, r, e), valid_T.slice(0, r, e), loss_c,
                         need_h || need_w ? x : torch::Tensor());
      if (need_h) {
        auto dst = grad_h.slice(0, r, e);
        if (x.scalar_type() == Wc.scalar_type())
          torch::mm_out(dst, x, Wc);
        else  // 16-bit h: the float32 logit gradient meets W in h's dtype
          dst.copy_(torch::matmul(x.to(Wc.scalar_type()), Wc));
      }
      if (need_w) {
        auto a = like(x, W_VD).t(), b = like(h_c, W_VD);
        grad_W = grad_W.defined() ? grad_W.addmm_(a, b) : torch::mm(a, b);
      }
    }
    ctx->saved_data["grad_h"] = grad_h;
    ctx->saved_data["grad_W"] = grad_W;
    return loss_T.sum();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto& g = grad[0];
    auto grad_h = take_scaled(ctx, "grad_h", g);
    auto grad_W = take_scaled(ctx, "grad_W", g);
    return {grad_h, grad_W, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor head_loss_sum(const torch::Tensor& h_BSD, const torch::Tensor& W_VD,
                            const torch::Tensor& targets_BS) {
  auto h = h_BSD.reshape({-1, h_BSD.size(-1)}).contiguous();
  const bool grad = torch::GradMode::is_enabled();
  return HeadLossFn::apply(h, W_VD, targets_BS.reshape({-1}), grad && h.requires_grad(),
                           grad && W_VD.requires_grad());
}

torch::Tensor lm_loss_sum(const torch::Tensor& logits_BSV, const torch::Tensor& targets_BS) {
  auto logits = logits_BSV.reshape({-1, logits_BSV.size(-1)});
  if (logits.scalar_type() != torch::kDouble) logits = logits.to(torch::kFloat);
  const bool grad = torch::GradMode::is_enabled() && logits.requires_grad();
  return LmLossFn::apply(logits.contiguous(), targets_BS.reshape({-1}), grad);
}

}  // namespace mofe::model
