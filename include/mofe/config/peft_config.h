// PeftConfig: the parameter-efficient baselines' settings (the [peft] section), following
// Hugging Face peft's LoraConfig names and defaults (r 8, lora_alpha 8, dropout 0, targets
// q_proj,v_proj as peft's default for Llama and Mixtral) and bitsandbytes' 4-bit settings.
// Used by --mode lora | dora | qlora; --frozen-dtype also applies to mofe and full mode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mofe/config/model_config.h"
#include "mofe/config/train_config.h"

namespace mofe::config {

struct PeftConfig {
  int64_t lora_r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;
  // HF module names: q_proj k_proj v_proj o_proj (attention); gate_proj up_proj down_proj
  // (the dense MLP, or each expert's, also called w1 w3 w2); gate (the router); lm_head.
  std::vector<std::string> lora_targets = {"q_proj", "v_proj"};
  bool use_rslora = false;        // scaling alpha / sqrt(r) instead of alpha / r
  bool train_router = false;      // also train the routers (PEFT modes)
  bool train_embeddings = false;  // also train embed_tokens and lm_head (PEFT modes)
  // Storage of frozen projection weights: auto (nf4 in qlora mode, the compute dtype
  // otherwise) | fp32 | bf16 | nf4. Embeddings, norms and the LM head keep the compute dtype
  // under nf4, as transformers' bitsandbytes integration keeps them (bf16 applies to the head).
  std::string frozen_dtype = "auto";
  bool double_quant = true;  // NF4 scales quantised to 8 bits (bnb_4bit_use_double_quant)
  std::string adapter;       // --adapter: a peft adapter directory to start from

  // PERFT (--mode perft-r|e|s|d, moe/perft.h): bottleneck adapters beside each MoE block.
  int64_t perft_adapters = 4;          // N_a adapter experts (perft-r, perft-d; s: 1, e: E)
  int64_t perft_topk = 2;              // k_a adapters per token (perft-r)
  int64_t perft_rank = 8;              // bottleneck width D_B
  std::string perft_adapter = "lora";  // lora: up(down(x)) | parallel: up(act(down(x)))
  std::string perft_act = "silu";      // silu | relu | gelu (parallel adapters)
  double perft_aux_coef = 0.0;         // load-balancing loss of the adapter router (perft-r)

  double scaling() const;  // alpha / r, or alpha / sqrt(r)
  // Adapter modules per MoE layer in `mode`: N_a for perft-r/d, 1 for perft-s, E for perft-e.
  int64_t perft_modules(TrainMode mode, const ModelConfig& m) const;
  // The storage of frozen weights in `mode`: fp32 (the compute dtype), bf16 or nf4.
  std::string storage(TrainMode mode) const;
  // Ranges, targets that name a module of `m`, options that mean nothing in `mode`.
  void validate(const ModelConfig& m, TrainMode mode) const;
  nlohmann::json to_json() const;
  static PeftConfig from_json(const nlohmann::json& j);
};

// A LoRA target as mofe names the module: w1/w3/w2 (Mixtral's expert names) become
// gate_proj/up_proj/down_proj; "" for a name that is no module of a Llama/Mixtral model.
std::string canonical_target(const std::string& target);
// Whether `target` names a module of model `m` (w1/w2/w3 and gate need a MoE model).
bool target_exists(const std::string& target, const ModelConfig& m);

}  // namespace mofe::config
