#include "mofe/model/decoder_layer.h"

#include <memory>
#include <optional>

#include "mofe/model/recompute.h"

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

torch::Tensor DecoderLayerImpl::attention_block(const torch::Tensor& h_BSD,
                                                const torch::Tensor& key_mask_BS,
                                                const AttentionLayout* layout) {
  return self_attn(input_layernorm(h_BSD), key_mask_BS, layout);
}

LayerOutput DecoderLayerImpl::ffn_block(const torch::Tensor& h_BSD) {
  LayerOutput out;
  auto x = post_attention_layernorm(h_BSD);
  if (mlp) {
    out.h_BSD = mlp(x);
    return out;
  }
  const auto B = x.size(0), S = x.size(1), D = x.size(2);
  moe::MoeOutput m = block_sparse_moe(x.reshape({B * S, D}));
  out.h_BSD = m.y_TD.view({B, S, D});
  out.aux_loss = m.aux_loss;
  out.global_rows_per_expert = std::move(m.global_rows_per_expert);
  out.topk_ids_BSK = m.topk_ids_TK.view({B, S, -1});
  out.adapter_aux_loss = m.adapter_aux_loss;
  out.global_rows_per_adapter = std::move(m.global_rows_per_adapter);
  if (m.adapter_topk_ids_TK.defined())
    out.adapter_topk_ids_BSK = m.adapter_topk_ids_TK.view({B, S, -1});
  return out;
}

LayerOutput DecoderLayerImpl::plain(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS,
                                    const AttentionLayout* layout) {
  auto h = h_BSD + attention_block(h_BSD, key_mask_BS, layout);
  LayerOutput out = ffn_block(h);
  out.h_BSD = h + out.h_BSD;
  return out;
}

namespace {

// The routing report of a recomputed block: taken from its first run only (the rerun in
// backward must not replace what the step already reported).
struct Report {
  bool filled = false;
  std::vector<int64_t> rows, adapter_rows;
  torch::Tensor topk_ids, adapter_topk_ids;
};

// {h, aux (MoE layers), adapter aux (PERFT-R, which needs a MoE layer)}
std::vector<torch::Tensor> region_outputs(const LayerOutput& lo, Report& report) {
  if (!report.filled) {
    report.filled = true;
    report.rows = lo.global_rows_per_expert;
    report.topk_ids = lo.topk_ids_BSK;
    report.adapter_rows = lo.global_rows_per_adapter;
    report.adapter_topk_ids = lo.adapter_topk_ids_BSK;
  }
  std::vector<torch::Tensor> out{lo.h_BSD};
  if (lo.aux_loss.defined()) out.push_back(lo.aux_loss);
  if (lo.adapter_aux_loss.defined()) out.push_back(lo.adapter_aux_loss);
  return out;
}

LayerOutput from_region(const std::vector<torch::Tensor>& out, const Report& report) {
  LayerOutput lo;
  lo.h_BSD = out[0];
  if (out.size() > 1) lo.aux_loss = out[1];
  if (out.size() > 2) lo.adapter_aux_loss = out[2];
  lo.global_rows_per_expert = report.rows;
  lo.topk_ids_BSK = report.topk_ids;
  lo.global_rows_per_adapter = report.adapter_rows;
  lo.adapter_topk_ids_BSK = report.adapter_topk_ids;
  return lo;
}

std::vector<torch::Tensor> params_of(std::initializer_list<const torch::nn::Module*> modules) {
  std::vector<torch::Tensor> out;
  for (const auto* m : modules)
    if (m)
      for (auto& p : trainable_parameters(*m)) out.push_back(p);
  return out;
}

}  // namespace

LayerOutput DecoderLayerImpl::forward(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS,
                                      const AttentionLayout* layout) {
  using config::Recompute;
  if (recompute_ == Recompute::kNone || !torch::GradMode::is_enabled())
    return plain(h_BSD, key_mask_BS, layout);
  // The closures outlive this call (backward runs them again): they hold copies, not
  // references, of the mask and the layout.
  std::optional<AttentionLayout> lay;
  if (layout) lay = *layout;
  auto report = std::make_shared<Report>();
  if (recompute_ == Recompute::kFull) {
    auto fn = [this, key_mask_BS, lay, report](const std::vector<torch::Tensor>& in) {
      return region_outputs(plain(in[0], key_mask_BS, lay ? &*lay : nullptr), *report);
    };
    return from_region(recompute(fn, {h_BSD}, trainable_parameters(*this)), *report);
  }
  torch::Tensor h;
  if (recompute_ == Recompute::kAttention) {
    auto fn = [this, key_mask_BS, lay](const std::vector<torch::Tensor>& in) {
      return std::vector<torch::Tensor>{attention_block(in[0], key_mask_BS, lay ? &*lay : nullptr)};
    };
    h = h_BSD + recompute(fn, {h_BSD}, params_of({input_layernorm.get(), self_attn.get()}))[0];
    LayerOutput out = ffn_block(h);
    out.h_BSD = h + out.h_BSD;
    return out;
  }
  // kMoe: the feed-forward block (for a dense model, its MLP).
  h = h_BSD + attention_block(h_BSD, key_mask_BS, layout);
  auto fn = [this, report](const std::vector<torch::Tensor>& in) {
    return region_outputs(ffn_block(in[0]), *report);
  };
  const torch::nn::Module* ffn =
      mlp ? static_cast<const torch::nn::Module*>(mlp.get())
          : static_cast<const torch::nn::Module*>(block_sparse_moe.get());
  LayerOutput out =
      from_region(recompute(fn, {h}, params_of({post_attention_layernorm.get(), ffn})), *report);
  out.h_BSD = h + out.h_BSD;
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
  out.adapter_aux_loss = m.adapter_aux_loss;
  out.global_rows_per_adapter = std::move(m.global_rows_per_adapter);
  return out;
}

}  // namespace mofe::model
