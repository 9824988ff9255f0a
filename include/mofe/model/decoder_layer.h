// One Llama / Mixtral decoder layer:
//   h = h + self_attn(input_layernorm(h))
//   h = h + ffn(post_attention_layernorm(h)),  ffn = mlp (dense) | block_sparse_moe (MoE)
// With recomputation (set_recompute) the attention block, the feed-forward block or the whole
// layer keeps only its input in training and runs again in backward (model/recompute.h).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/config/train_config.h"
#include "mofe/model/attention.h"
#include "mofe/model/mlp.h"
#include "mofe/model/rms_norm.h"
#include "mofe/moe/moe_layer.h"

namespace mofe::model {

struct LayerOutput {
  torch::Tensor h_BSD;                          // [R, D] from forward_rows
  torch::Tensor aux_loss;                       // undefined for a dense layer
  std::vector<int64_t> global_rows_per_expert;  // empty for a dense layer
  torch::Tensor topk_ids_BSK;                   // undefined for a dense layer
  // PERFT-R's adapter router (moe::MoeOutput); undefined / empty otherwise
  torch::Tensor adapter_aux_loss;
  std::vector<int64_t> global_rows_per_adapter;
  torch::Tensor adapter_topk_ids_BSK;
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const config::ModelConfig& cfg, const dist::ProcessGroups& groups,
                   dist::CommBackend& backend, int64_t layer, const BuildOptions& build = {});
  LayerOutput forward(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS = {},
                      const AttentionLayout* layout = nullptr);
  // The layer's output for some rows only (flat indices b * S + s, see
  // Attention::forward_rows): h_BSD [R, D]; the feed-forward (and the MoE's all-to-all) sees
  // only those rows, and topk_ids_BSK is left undefined.
  LayerOutput forward_rows(const torch::Tensor& h_BSD, const AttentionLayout& layout,
                           const torch::Tensor& rows_R);

  void set_recompute(config::Recompute level) { recompute_ = level; }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};                         // dense model
  moe::MoeLayer block_sparse_moe{nullptr};  // MoE model

 private:
  // self_attn(input_layernorm(h)): [B, S, D]
  torch::Tensor attention_block(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS,
                                const AttentionLayout* layout);
  // ffn(post_attention_layernorm(h)) in out.h_BSD (the residual not added), with the MoE's aux
  // loss and routing report
  LayerOutput ffn_block(const torch::Tensor& h_BSD);
  LayerOutput plain(const torch::Tensor& h_BSD, const torch::Tensor& key_mask_BS,
                    const AttentionLayout* layout);
  config::Recompute recompute_ = config::Recompute::kNone;
};
TORCH_MODULE(DecoderLayer);

}  // namespace mofe::model
