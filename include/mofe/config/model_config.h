// ModelConfig: the shape of a Llama / Mixtral model in the Hugging Face config.json vocabulary.
// One source of truth for shapes: read from and written to JSON with the same keys that
// transformers uses (hidden_size, num_local_experts, num_experts_per_tok, ...).
// num_local_experts == 0 means a dense Llama model (an MLP in every layer).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mofe::config {

struct ModelConfig {
  int64_t hidden_size = 128;
  int64_t intermediate_size = 344;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t vocab_size = 256;
  int64_t max_position_embeddings = 2048;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  int64_t num_local_experts = 4;  // 0: dense Llama
  int64_t num_experts_per_tok = 2;
  double router_aux_loss_coef = 0.01;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;

  bool is_moe() const { return num_local_experts > 0; }
  int64_t head_dim() const { return hidden_size / num_attention_heads; }

  // Throws UsageError naming the field when a size is non-positive or inconsistent.
  void validate() const;

  // HF config.json: "model_type"/"architectures" follow is_moe(). Unknown keys in the input
  // are ignored (HF configs carry many that do not affect shapes).
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);
  static ModelConfig load(const std::string& path);  // IoError/UsageError name the file
  void save(const std::string& path) const;
};

}  // namespace mofe::config
