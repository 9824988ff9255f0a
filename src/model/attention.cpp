#include "mofe/model/attention.h"

#include <cmath>
#include <limits>

#include "mofe/model/precision.h"

namespace mofe::model {

AttentionLayout make_attention_layout(const torch::Tensor& positions_BS,
                                      const torch::Tensor& allowed_BSS, torch::Dtype dtype) {
  auto bias = torch::zeros(allowed_BSS.sizes(), allowed_BSS.options().dtype(dtype));
  bias.masked_fill_(allowed_BSS.logical_not(), -std::numeric_limits<double>::infinity());
  return {positions_BS, allowed_BSS, bias};
}

namespace {
// The layout's additive mask: the one built per pass, or (a layout without it) built here.
torch::Tensor bias_of(const AttentionLayout& layout, torch::Dtype dtype) {
  return layout.bias_BSS.defined()
             ? layout.bias_BSS
             : make_attention_layout(layout.positions_BS, layout.allowed_BSS, dtype).bias_BSS;
}
}  // namespace

AttentionImpl::AttentionImpl(const config::ModelConfig& cfg, int64_t layer,
                             const BuildOptions& build)
    : heads_(cfg.num_attention_heads),
      kv_heads_(cfg.num_key_value_heads),
      head_dim_(cfg.head_dim()) {
  const int64_t D = cfg.hidden_size;
  const ParamRole role{ParamKind::kAttention, layer};
  auto make = [&](const char* name, int64_t in, int64_t out) {
    return register_module(name, Projection(in, out, role, build.plan_for(role, name), build));
  };
  q_proj = make("q_proj", D, heads_ * head_dim_);
  k_proj = make("k_proj", D, kv_heads_ * head_dim_);
  v_proj = make("v_proj", D, kv_heads_ * head_dim_);
  o_proj = make("o_proj", heads_ * head_dim_, D);
  rope_ = register_module("rope",
                          RotaryEmbedding(head_dim_, cfg.max_position_embeddings, cfg.rope_theta));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_BSD, const torch::Tensor& key_mask_BS,
                                     const AttentionLayout* layout) {
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1);
  auto q = q_proj(x_BSD).view({B, S, heads_, head_dim_}).transpose(1, 2);     // [B, H, S, Dh]
  auto k = k_proj(x_BSD).view({B, S, kv_heads_, head_dim_}).transpose(1, 2);  // [B, G, S, Dh]
  auto v = v_proj(x_BSD).view({B, S, kv_heads_, head_dim_}).transpose(1, 2);  // [B, G, S, Dh]
  q = layout ? rope_->forward_at(q, layout->positions_BS) : rope_(q);
  k = layout ? rope_->forward_at(k, layout->positions_BS) : rope_(k);
  // Grouped-query: query head h reads kv head h / (H / G). Fold the group into the query
  // rows so one batched matmul per kv head serves all its query heads (no k/v copies):
  // q [B, G, H/G * S, Dh] @ k^T [B, G, Dh, S] -> scores [B, G, H/G * S, S].
  const int64_t group = heads_ / kv_heads_;
  if (layout) {
    // Evaluation's packed sequences (S in the hundreds, the scores [B, G, H/G * S, S] the
    // largest tensor of the pass): q is scaled before the product and the mask is added in
    // place, once, broadcast over the H/G query heads of a group: one pass over the scores
    // besides the softmax, instead of a division, a repeated mask and a masked copy.
    auto q_g =
        (q * (1.0 / std::sqrt(double(head_dim_)))).reshape({B, kv_heads_, group * S, head_dim_});
    auto scores = torch::matmul(q_g, k.transpose(-2, -1));
    const auto bias = bias_of(*layout, scores.scalar_type());
    scores.view({B, kv_heads_, group, S, S}).add_(bias.view({B, 1, 1, S, S}));
    auto out = torch::matmul(softmax_in_stats(scores, -1), v);  // [B, G, H/G*S, Dh]
    out = out.view({B, heads_, S, head_dim_}).transpose(1, 2).reshape({B, S, heads_ * head_dim_});
    return o_proj(out);
  }
  auto scores =
      torch::matmul(q.reshape({B, kv_heads_, group * S, head_dim_}), k.transpose(-2, -1)) /
      std::sqrt(double(head_dim_));
  auto causal =
      torch::ones({S, S}, torch::TensorOptions().dtype(torch::kBool).device(x_BSD.device()))
          .triu(1)
          .repeat({group, 1});  // [H/G * S, S]
  if (key_mask_BS.defined()) {
    // masked [B, 1, H/G * S, S]: causal or a pad key. Rows masked everywhere get all-zero
    // scores (uniform attention) instead of -inf everywhere (NaN).
    auto pad = (~key_mask_BS.to(torch::kBool)).view({B, 1, 1, S});
    auto masked = causal.view({1, 1, group * S, S}).logical_or(pad);
    auto none = masked.all(-1, /*keepdim=*/true);
    scores = scores.masked_fill(masked.logical_and(none.logical_not()),
                                -std::numeric_limits<double>::infinity());
    scores = scores.masked_fill(none, 0.0);
  } else {
    scores = scores.masked_fill(causal, -std::numeric_limits<double>::infinity());
  }
  auto probs = softmax_in_stats(scores, -1);
  auto out = torch::matmul(probs, v);  // [B, G, H/G*S, Dh]
  out = out.view({B, heads_, S, head_dim_}).transpose(1, 2).reshape({B, S, heads_ * head_dim_});
  return o_proj(out);
}

torch::Tensor AttentionImpl::forward_rows(const torch::Tensor& x_BSD, const AttentionLayout& layout,
                                          const torch::Tensor& rows_R) {
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1), R = rows_R.size(0);
  const int64_t group = heads_ / kv_heads_;
  auto k = k_proj(x_BSD).view({B, S, kv_heads_, head_dim_}).transpose(1, 2);  // [B, G, S, Dh]
  auto v = v_proj(x_BSD).view({B, S, kv_heads_, head_dim_}).transpose(1, 2);  // [B, G, S, Dh]
  k = rope_->forward_at(k, layout.positions_BS);
  // Each query row reads the keys and values of its own sequence: [R, G, S, Dh].
  auto batch_R = rows_R.div(S, "floor");
  k = k.index_select(0, batch_R);
  v = v.index_select(0, batch_R);
  auto x_RD = x_BSD.reshape({B * S, -1}).index_select(0, rows_R);
  auto q = q_proj(x_RD).view({R, heads_, 1, head_dim_});  // [R, H, 1, Dh]
  q = rope_->forward_at(q, layout.positions_BS.reshape({-1}).index_select(0, rows_R).view({R, 1}));
  // Query head h = g * H/G + j reads kv head g: q [R, G, H/G, Dh] @ k^T -> [R, G, H/G, S].
  q = q * (1.0 / std::sqrt(double(head_dim_)));  // scaled as forward's layout path does
  auto scores = torch::matmul(q.view({R, kv_heads_, group, head_dim_}), k.transpose(-2, -1));
  const auto bias = bias_of(layout, scores.scalar_type());
  scores.add_(bias.reshape({B * S, S}).index_select(0, rows_R).view({R, 1, 1, S}));
  auto out = torch::matmul(softmax_in_stats(scores, -1), v);  // [R, G, H/G, Dh]
  return o_proj(out.reshape({R, heads_ * head_dim_}));
}

}  // namespace mofe::model
