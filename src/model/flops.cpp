#include "mofe/model/flops.h"

#include <set>
#include <string>

namespace mofe::model {

StepFlops step_flops(const config::ModelConfig& c, const config::TrainConfig& train, int64_t tokens,
                     int64_t seq_len, const config::PeftConfig& peft) {
  const double T = double(tokens), D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size,
               L = c.num_hidden_layers, S = seq_len;
  const double Dh = c.head_dim(), H = c.num_attention_heads, G = c.num_key_value_heads;
  const double attn_proj = 2.0 * T * (D * H * Dh * 2 + D * G * Dh * 2);  // q, o + k, v
  const double qkv_proj = 2.0 * T * (D * H * Dh + D * G * Dh * 2);
  const double scores = 2.0 * T * S * H * Dh * 2;  // QK^T and PV
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
  // One layer's forward per block, adapters added below as each mode has them: what a
  // recomputed block runs again.
  double attn_block = attn_proj + scores, ffn_block = router + ffn_active;
  const auto level = train.recompute_level();
  auto add_recompute = [&] {
    const bool attn = level == config::Recompute::kAttention || level == config::Recompute::kFull;
    const bool ffn = level == config::Recompute::kMoe || level == config::Recompute::kFull;
    f.recompute = L * ((attn ? attn_block : 0.0) + (ffn ? ffn_block : 0.0));
  };
  if (config::is_perft(train.mode)) {
    // PERFT: everything pretrained frozen. Nothing below layer 0's adapters needs a gradient,
    // so layer 0 computes no input gradient at all; the layers above pass it through their
    // frozen attention, router and experts.
    f.input_grad = (L - 1) * (attn_proj + 2 * scores + router + ffn_active) + head;
    f.weight_grad = 0;
    f.expert_weight_grad_skipped = L * ffn_active;
    const double Na = double(peft.perft_modules(train.mode, c)), DB = double(peft.perft_rank);
    double rows = T;  // rows each layer's adapters see: shared
    if (train.mode == config::TrainMode::kPerftR) rows = T * double(peft.perft_topk);
    if (train.mode == config::TrainMode::kPerftE) rows = T * double(c.num_experts_per_tok);
    if (train.mode == config::TrainMode::kPerftD) rows = T * Na;
    // Per layer: down and up on `rows`, the adapter router on every token (perft-r). Layer 0's
    // adapters still pass their gradient from up to down (up's input), not below down.
    const double updown = 2.0 * rows * D * DB;
    const double arouter = train.mode == config::TrainMode::kPerftR ? 2.0 * T * D * Na : 0.0;
    const double fwd = L * (2 * updown + arouter);
    const double in_grad = L * updown + (L - 1) * (updown + arouter);
    f.forward += fwd;
    f.input_grad += in_grad;
    f.weight_grad += fwd;
    f.adapter = fwd + in_grad + fwd;    // forward, input and weight gradients
    ffn_block += 2 * updown + arouter;  // the adapters sit beside the MoE block
    add_recompute();
    return f;
  }
  if (!config::is_peft(train.mode)) {
    // dX = dY W^T for every linear; the score matmuls have two gradient operands each.
    f.input_grad = L * (attn_proj + 2 * scores + router + ffn_active) + head;
    // dW = dY^T X for trainable linears only (--train-parts may leave some out).
    auto trains = [&](const char* part) { return train.part_trains(part) ? 1.0 : 0.0; };
    const double ffn_share = expert_trainable_share * trains("ffn");
    f.weight_grad =
        L * (trains("attention") * attn_proj + trains("router") * router + ffn_share * ffn_active) +
        trains("head") * head;
    f.expert_weight_grad_skipped = L * (1.0 - ffn_share) * ffn_active;
    add_recompute();
    return f;
  }
  // PEFT: the base is frozen. With frozen embeddings nothing below layer 0's q/k/v needs a
  // gradient, so their inputs get none (and layer 0's K side of the scores neither).
  const bool embeddings = peft.train_embeddings;
  f.input_grad = L * (attn_proj + 2 * scores + router + ffn_active) + head;
  if (!embeddings) f.input_grad -= qkv_proj + scores / 2;
  f.weight_grad = (peft.train_router ? L * router : 0) + (embeddings ? head : 0);
  f.expert_weight_grad_skipped = L * ffn_active;
  // Adapters: per target, its rows and shape.
  std::set<std::string> t;
  for (const auto& x : peft.lora_targets) t.insert(config::canonical_target(x));
  const double r = double(peft.lora_r), K = c.is_moe() ? double(c.num_experts_per_tok) : 1.0;
  const bool dora = train.mode == config::TrainMode::kDora;
  const double copies = c.is_moe() ? double(c.num_local_experts) : 1.0;
  double fwd = 0, in_grad = 0, w_grad = 0;
  // block: the layer's attention or feed-forward forward this adapter adds to (recompute).
  auto adapter = [&](double rows, double in, double out, double n_weights, bool layer0_input,
                     double& block) {
    const double mm = 2.0 * rows * r * (in + out);
    const double f_mm = mm + (dora ? 2.0 * out * r * in * n_weights : 0);
    fwd += f_mm;
    block += f_mm;
    w_grad += mm;
    in_grad += layer0_input && !embeddings ? mm * (L - 1) / L : mm;
  };
  const double Hq = H * Dh, Hkv = G * Dh;
  if (t.count("q_proj")) adapter(T, D, Hq, 1, true, attn_block);
  if (t.count("k_proj")) adapter(T, D, Hkv, 1, true, attn_block);
  if (t.count("v_proj")) adapter(T, D, Hkv, 1, true, attn_block);
  if (t.count("o_proj")) adapter(T, Hq, D, 1, false, attn_block);
  for (const char* p : {"gate_proj", "up_proj"})
    if (t.count(p)) adapter(T * K, D, F, copies, false, ffn_block);
  if (t.count("down_proj")) adapter(T * K, F, D, copies, false, ffn_block);
  if (t.count("gate") && c.is_moe())
    adapter(T, D, double(c.num_local_experts), 1, false, ffn_block);
  fwd *= L, in_grad *= L, w_grad *= L;
  add_recompute();
  if (t.count("lm_head")) {
    const double mm = 2.0 * T * r * (D + V);
    fwd += mm + (dora ? 2.0 * V * r * D : 0), in_grad += mm, w_grad += mm;
  }
  f.forward += fwd;
  f.input_grad += in_grad;
  f.weight_grad += w_grad;
  f.adapter = fwd + in_grad + w_grad;
  return f;
}

}  // namespace mofe::model
