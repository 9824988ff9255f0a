#include "mofe/model/flops.h"

namespace mofe::model {

StepFlops step_flops(const config::ModelConfig& c, const config::TrainConfig& train, int64_t tokens,
                     int64_t seq_len) {
  const double T = double(tokens), D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size,
               L = c.num_hidden_layers, S = seq_len;
  const double Dh = c.head_dim(), H = c.num_attention_heads, G = c.num_key_value_heads;
  const double attn_proj = 2.0 * T * (D * H * Dh * 2 + D * G * Dh * 2);  // q, o + k, v
  const double scores = 2.0 * T * S * H * Dh * 2;                        // QK^T and PV
  const double head = 2.0 * T * D * V;
  double router = 0, ffn_active = 0, expert_trainable_share = 1.0;
  if (c.is_moe()) {
    router = 2.0 * T * D * c.num_local_experts;
    ffn_active = 2.0 * T * 3 * D * F * c.num_experts_per_tok;
    int64_t frozen = 0;
    for (int64_t e = 0; e < c.num_local_experts; ++e) frozen += train.expert_frozen(e) ? 1 : 0;
    // With balanced routing each expert sees the same share of the rows.
    expert_trainable_share = 1.0 - double(frozen) / double(c.num_local_experts);
  } else {
    ffn_active = 2.0 * T * 3 * D * F;
  }
  StepFlops f;
  f.forward = L * (attn_proj + scores + router + ffn_active) + head;
  // dX = dY W^T for every linear; the score matmuls have two gradient operands each.
  f.input_grad = L * (attn_proj + 2 * scores + router + ffn_active) + head;
  // dW = dY^T X for trainable linears only.
  f.weight_grad = L * (attn_proj + router + expert_trainable_share * ffn_active) + head;
  f.expert_weight_grad_skipped = L * (1.0 - expert_trainable_share) * ffn_active;
  return f;
}

}  // namespace mofe::model
