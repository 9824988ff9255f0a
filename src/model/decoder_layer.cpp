#include "mofe/model/decoder_layer.h"

namespace mofe::model {

DecoderLayerImpl::DecoderLayerImpl(const config::ModelConfig& cfg,
                                   const dist::ProcessGroups& groups, dist::CommBackend& backend,
                                   int64_t layer, const BuildOptions& build) {
  input_layernorm =
      register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, layer));
  self_attn = register_module("self_attn", Attention(cfg, layer, build));
  post_attention_layernorm = register_module("post_attention_layernorm",
                                             RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, layer));
  if (cfg.is_moe())
    block_sparse_moe =
        register_module("block_sparse_moe", moe::MoeLayer(cfg, groups, backend, layer, build));
  else
    mlp = register_module("mlp", MLP(cfg.hidden_size, cfg.intermediate_size,
                                     ParamRole{ParamKind::kDenseMlp, layer}, build));
}

LayerOutput DecoderLayerImpl::forward(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS,
                                      const AttentionLayout* layout) {
  LayerOutput out;
  auto h = h_BSD + self_attn(input_layernorm(h_BSD), key_mask_BS, layout);
  auto x = post_attention_layernorm(h);
  if (mlp) {
    out.h_BSD = h + mlp(x);
    return out;
  }
  const auto B = x.size(0), S = x.size(1), D = x.size(2);
  moe::MoeOutput m = block_sparse_moe(x.reshape({B * S, D}));
  out.h_BSD = h + m.y_TD.view({B, S, D});
  out.aux_loss = m.aux_loss;
  out.global_rows_per_expert = std::move(m.global_rows_per_expert);
  out.topk_ids_BSK = m.topk_ids_TK.view({B, S, -1});
  return out;
}

LayerOutput DecoderLayerImpl::forward_rows(const torch::Tensor& h_BSD,
                                           const AttentionLayout& layout,
                                           const torch::Tensor& rows_R) {
  LayerOutput out;
  const auto D = h_BSD.size(2);
  auto h = h_BSD.reshape({-1, D}).index_select(0, rows_R) +
           self_attn->forward_rows(input_layernorm(h_BSD), layout, rows_R);  // [R, D]
  auto x = post_attention_layernorm(h);
  if (mlp) {
    out.h_BSD = h + mlp(x);
    return out;
  }
  moe::MoeOutput m = block_sparse_moe(x);
  out.h_BSD = h + m.y_TD;
  out.aux_loss = m.aux_loss;
  out.global_rows_per_expert = std::move(m.global_rows_per_expert);
  return out;
}

}  // namespace mofe::model
