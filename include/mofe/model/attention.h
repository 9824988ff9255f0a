// Grouped-query causal self-attention (Llama): H query heads share G key/value heads,
// HF names q_proj, k_proj, v_proj, o_proj (no biases), rotary embedding on q and k.
#pragma once

#include <torch/torch.h>

#include "mofe/config/model_config.h"
#include "mofe/model/projection.h"
#include "mofe/model/rope.h"

namespace mofe::model {

// Sequences that are not one plain causal run: several continuations packed after one shared
// context (eval/scorer.h), each continuation seeing the context and its own earlier tokens
// only, at the positions it would have alone.
struct AttentionLayout {
  torch::Tensor positions_BS;  // int64: the rotary position of each token
  torch::Tensor allowed_BSS;   // bool [b, query, key]: true = the query may attend the key
  // Optional: allowed_BSS as an additive mask (0 or -inf) in the compute dtype, built once per
  // pass by make_attention_layout instead of once per layer from allowed_BSS.
  torch::Tensor bias_BSS;
};
AttentionLayout make_attention_layout(const torch::Tensor& positions_BS,
                                      const torch::Tensor& allowed_BSS, torch::Dtype dtype);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const config::ModelConfig& cfg, int64_t layer = -1,
                         const BuildOptions& build = {});
  // [B, S, D] -> [B, S, D], causal. key_mask_BS (bool, true = real token) masks left padding:
  // no query attends to a pad key; a query with no key left (a pad query) attends uniformly to
  // every position, as Hugging Face's additive min-value mask makes it do.
  // layout (instead of the causal rule and key_mask_BS): the given positions and mask; every
  // query must be allowed at least one key.
  torch::Tensor forward(const torch::Tensor& x_BSD, const torch::Tensor& key_mask_BS = {},
                        const AttentionLayout* layout = nullptr);
  // forward under a layout for some query rows only: rows_R (int64) are flat indices b * S + s
  // into x_BSD; keys and values are every row's. [B, S, D] -> [R, D], each row what forward
  // gives it. The last layer of an eval pass needs only the rows that predict a token.
  torch::Tensor forward_rows(const torch::Tensor& x_BSD, const AttentionLayout& layout,
                             const torch::Tensor& rows_R);

  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
  RotaryEmbedding rope_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace mofe::model
