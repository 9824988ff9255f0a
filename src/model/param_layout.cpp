#include "mofe/model/param_layout.h"

namespace mofe::model {

std::vector<ParamSpec> param_layout(const config::ModelConfig& c) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Dh = c.head_dim(), H = c.num_attention_heads, G = c.num_key_value_heads;
  std::vector<ParamSpec> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamRole role,
                 std::string leaf = "") {
    out.push_back(
        {std::move(name), std::move(shape), role.layer, role.expert, role, std::move(leaf)});
  };
  add("embed_tokens.weight", {V, D}, {ParamKind::kEmbedding});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const ParamRole attn{ParamKind::kAttention, l};
    add(p + "self_attn.q_proj.weight", {H * Dh, D}, attn, "q_proj");
    add(p + "self_attn.k_proj.weight", {G * Dh, D}, attn, "k_proj");
    add(p + "self_attn.v_proj.weight", {G * Dh, D}, attn, "v_proj");
    add(p + "self_attn.o_proj.weight", {D, H * Dh}, attn, "o_proj");
    if (c.is_moe()) {
      add(p + "block_sparse_moe.gate.weight", {c.num_local_experts, D}, {ParamKind::kRouter, l},
          "gate");
      for (int64_t e = 0; e < c.num_local_experts; ++e) {
        const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        const ParamRole expert{ParamKind::kExpert, l, e};
        add(q + "gate_proj.weight", {I, D}, expert, "gate_proj");
        add(q + "up_proj.weight", {I, D}, expert, "up_proj");
        add(q + "down_proj.weight", {D, I}, expert, "down_proj");
      }
    } else {
      const ParamRole mlp{ParamKind::kDenseMlp, l};
      add(p + "mlp.gate_proj.weight", {I, D}, mlp, "gate_proj");
      add(p + "mlp.up_proj.weight", {I, D}, mlp, "up_proj");
      add(p + "mlp.down_proj.weight", {D, I}, mlp, "down_proj");
    }
    add(p + "input_layernorm.weight", {D}, {ParamKind::kNorm, l});
    add(p + "post_attention_layernorm.weight", {D}, {ParamKind::kNorm, l});
  }
  add("norm.weight", {D}, {ParamKind::kNorm});
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, D}, {ParamKind::kHead}, "lm_head");
  return out;
}

}  // namespace mofe::model
