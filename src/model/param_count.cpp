#include "mofe/model/param_count.h"

#include <set>
#include <utility>

namespace mofe::model {

ParamCount count_parameters(const config::ModelConfig& c, const config::TrainConfig& train,
                            const config::PeftConfig& peft) {
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t L = c.num_hidden_layers, E = c.num_local_experts;
  const int64_t Dh = c.head_dim(), Hq = c.num_attention_heads * Dh,
                Hkv = c.num_key_value_heads * Dh;
  const int64_t attn = D * Hq * 2 + D * Hkv * 2;
  const int64_t ffn = 3 * D * F;
  ParamCount p;
  p.per_expert = c.is_moe() ? ffn : 0;
  const int64_t per_layer_dense = attn + 2 * D + (c.is_moe() ? E * D : ffn);
  const int64_t embeddings = V * D * (c.tie_word_embeddings ? 1 : 2);
  p.non_expert = embeddings + D + L * per_layer_dense;
  const int64_t base = p.non_expert + L * E * p.per_expert;

  if (config::is_perft(train.mode) && c.is_moe()) {
    // Per MoE layer: N_modules bottlenecks of D -> D_B -> D (no biases), plus the adapter
    // router [N_a, D] under perft-r.
    const int64_t modules = peft.perft_modules(train.mode, c);
    const int64_t router = train.mode == config::TrainMode::kPerftR ? peft.perft_adapters * D : 0;
    p.adapters = L * (modules * 2 * D * peft.perft_rank + router);
    p.total = base + p.adapters;
    p.trainable = p.adapters;
    p.frozen = base;
    return p;
  }
  if (!config::is_peft(train.mode)) {
    int64_t frozen_experts = 0;
    for (int64_t e = 0; e < E; ++e) frozen_experts += train.expert_frozen(e) ? 1 : 0;
    p.total = base;
    p.frozen = L * frozen_experts * p.per_expert;
    if (train.mode == config::TrainMode::kFull && !train.train_parts.empty()) {
      // Only the named parts train (a tied head is the embedding matrix).
      const int64_t mlp = c.is_moe() ? (E - frozen_experts) * p.per_expert : ffn;
      const std::pair<const char*, int64_t> parts[] = {
          {"embeddings", V * D},    {"attention", L * attn},
          {"norms", D + L * 2 * D}, {"router", c.is_moe() ? L * E * D : 0},
          {"ffn", L * mlp},         {"head", c.tie_word_embeddings ? 0 : V * D}};
      p.trainable = 0;
      for (const auto& [name, n] : parts) p.trainable += train.part_trains(name) ? n : 0;
      p.frozen = p.total - p.trainable;
      return p;
    }
    p.trainable = p.total - p.frozen;
    return p;
  }
  // One adapter of rank r on a projection in -> out: r (in + out), plus out for DoRA.
  const int64_t r = peft.lora_r;
  const bool dora = train.mode == config::TrainMode::kDora;
  auto adapter = [&](int64_t in, int64_t out) { return r * (in + out) + (dora ? out : 0); };
  std::set<std::string> t;
  for (const auto& x : peft.lora_targets) t.insert(config::canonical_target(x));
  const int64_t copies = c.is_moe() ? E : 1;  // the FFN projections: per expert, or the MLP
  int64_t per_layer = 0;
  if (t.count("q_proj")) per_layer += adapter(D, Hq);
  if (t.count("k_proj")) per_layer += adapter(D, Hkv);
  if (t.count("v_proj")) per_layer += adapter(D, Hkv);
  if (t.count("o_proj")) per_layer += adapter(Hq, D);
  if (t.count("gate_proj")) per_layer += copies * adapter(D, F);
  if (t.count("up_proj")) per_layer += copies * adapter(D, F);
  if (t.count("down_proj")) per_layer += copies * adapter(F, D);
  if (t.count("gate") && c.is_moe()) per_layer += adapter(D, E);
  p.adapters = L * per_layer + (t.count("lm_head") && !c.tie_word_embeddings ? adapter(D, V) : 0);
  p.total = base + p.adapters;
  p.trainable = p.adapters + (peft.train_router && c.is_moe() ? L * E * D : 0) +
                (peft.train_embeddings ? embeddings : 0);
  p.frozen = p.total - p.trainable;
  return p;
}

}  // namespace mofe::model
