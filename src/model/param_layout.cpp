#include "mofe/model/param_layout.h"

namespace mofe::model {

std::vector<ParamSpec> param_layout(const config::ModelConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Dh = c.head_dim(), H = c.num_attention_heads, G = c.num_key_value_heads;
  std::vector<ParamSpec> out;
  out.push_back({"embed_tokens.weight", {V, D}});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    out.push_back({p + "self_attn.q_proj.weight", {H * Dh, D}, l});
    out.push_back({p + "self_attn.k_proj.weight", {G * Dh, D}, l});
    out.push_back({p + "self_attn.v_proj.weight", {G * Dh, D}, l});
    out.push_back({p + "self_attn.o_proj.weight", {D, H * Dh}, l});
    if (c.is_moe()) {
      out.push_back({p + "block_sparse_moe.gate.weight", {c.num_local_experts, D}, l});
      for (int64_t e = 0; e < c.num_local_experts; ++e) {
        const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        out.push_back({q + "gate_proj.weight", {I, D}, l, e});
        out.push_back({q + "up_proj.weight", {I, D}, l, e});
        out.push_back({q + "down_proj.weight", {D, I}, l, e});
      }
    } else {
      out.push_back({p + "mlp.gate_proj.weight", {I, D}, l});
      out.push_back({p + "mlp.up_proj.weight", {I, D}, l});
      out.push_back({p + "mlp.down_proj.weight", {D, I}, l});
    }
    out.push_back({p + "input_layernorm.weight", {D}, l});
    out.push_back({p + "post_attention_layernorm.weight", {D}, l});
  }
  out.push_back({"norm.weight", {D}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {V, D}});
  return out;
}

}  // namespace mofe::model
