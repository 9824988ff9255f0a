#include "mofe/model/param_count.h"

namespace mofe::model {

ParamCount count_parameters(const config::ModelConfig& c, const config::TrainConfig& train) {
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t L = c.num_hidden_layers, E = c.num_local_experts;
  const int64_t Dh = c.head_dim();
  const int64_t attn = D * c.num_attention_heads * Dh * 2 + D * c.num_key_value_heads * Dh * 2;
  const int64_t ffn = 3 * D * F;
  ParamCount p;
  p.per_expert = c.is_moe() ? ffn : 0;
  const int64_t per_layer_dense = attn + 2 * D + (c.is_moe() ? E * D : ffn);
  p.non_expert = V * D * (c.tie_word_embeddings ? 1 : 2) + D + L * per_layer_dense;
  p.total = p.non_expert + L * E * p.per_expert;
  int64_t frozen_experts = 0;
  for (int64_t e = 0; e < E; ++e) frozen_experts += train.expert_frozen(e) ? 1 : 0;
  p.frozen = L * frozen_experts * p.per_expert;
  p.trainable = p.total - p.frozen;
  return p;
}

}  // namespace mofe::model
