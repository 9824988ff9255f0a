#include "mofe/config/model_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mofe/core/error.h"

namespace mofe::config {

namespace {
void require_positive(int64_t v, const char* name) {
  if (v <= 0)
    throw UsageError(std::string("model config: ") + name + " must be positive, got " +
                     std::to_string(v));
}
}  // namespace

void ModelConfig::validate() const {
  require_positive(hidden_size, "hidden_size");
  require_positive(intermediate_size, "intermediate_size");
  require_positive(num_hidden_layers, "num_hidden_layers");
  require_positive(num_attention_heads, "num_attention_heads");
  require_positive(num_key_value_heads, "num_key_value_heads");
  require_positive(vocab_size, "vocab_size");
  require_positive(max_position_embeddings, "max_position_embeddings");
  if (hidden_size % num_attention_heads != 0)
    throw UsageError("model config: hidden_size(" + std::to_string(hidden_size) +
                     ") not divisible by num_attention_heads(" +
                     std::to_string(num_attention_heads) + ")");
  if (head_dim() % 2 != 0)
    throw UsageError("model config: head dimension " + std::to_string(head_dim()) +
                     " must be even for rotary embeddings");
  if (num_attention_heads % num_key_value_heads != 0)
    throw UsageError("model config: num_attention_heads(" + std::to_string(num_attention_heads) +
                     ") not divisible by num_key_value_heads(" +
                     std::to_string(num_key_value_heads) + ")");
  if (num_local_experts < 0)
    throw UsageError("model config: num_local_experts must be >= 0 (0 = dense), got " +
                     std::to_string(num_local_experts));
  if (is_moe()) {
    require_positive(num_experts_per_tok, "num_experts_per_tok");
    if (num_experts_per_tok > num_local_experts)
      throw UsageError("model config: num_experts_per_tok(" + std::to_string(num_experts_per_tok) +
                       ") > num_local_experts(" + std::to_string(num_local_experts) + ")");
  }
  // Written so that NaN fails each check.
  if (!(rope_theta > 0) || !std::isfinite(rope_theta))
    throw UsageError("model config: rope_theta must be positive and finite");
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
    throw UsageError("model config: rms_norm_eps must be positive and finite");
  if (!(router_aux_loss_coef >= 0) || !std::isfinite(router_aux_loss_coef))
    throw UsageError("model config: router_aux_loss_coef must be >= 0 and finite");
  if (bos_token_id >= vocab_size || eos_token_id >= vocab_size)
    throw UsageError("model config: bos_token_id(" + std::to_string(bos_token_id) +
                     ") / eos_token_id(" + std::to_string(eos_token_id) +
                     ") must be below vocab_size(" + std::to_string(vocab_size) + ")");
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j;
  j["architectures"] = {is_moe() ? "MixtralForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = is_moe() ? "mixtral" : "llama";
  j["hidden_act"] = "silu";
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rope_theta"] = rope_theta;
  j["rms_norm_eps"] = rms_norm_eps;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  if (is_moe()) {
    j["num_local_experts"] = num_local_experts;
    j["num_experts_per_tok"] = num_experts_per_tok;
    j["router_aux_loss_coef"] = router_aux_loss_coef;
  }
  return j;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  ModelConfig c;
  auto get = [&j](const char* key, auto& field) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    try {
      it->get_to(field);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(std::string("model config: key '") + key +
                       "' has the wrong type: " + e.what());
    }
  };
  get("hidden_size", c.hidden_size);
  get("intermediate_size", c.intermediate_size);
  get("num_hidden_layers", c.num_hidden_layers);
  get("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // HF default when absent
  get("num_key_value_heads", c.num_key_value_heads);
  get("vocab_size", c.vocab_size);
  get("max_position_embeddings", c.max_position_embeddings);
  get("rope_theta", c.rope_theta);
  get("rms_norm_eps", c.rms_norm_eps);
  get("tie_word_embeddings", c.tie_word_embeddings);
  get("bos_token_id", c.bos_token_id);
  get("eos_token_id", c.eos_token_id);
  c.num_local_experts = 0;  // a Llama config has no experts
  get("num_local_experts", c.num_local_experts);
  get("num_experts_per_tok", c.num_experts_per_tok);
  get("router_aux_loss_coef", c.router_aux_loss_coef);
  // Every path that reads a model config checks it: a zero head count would divide by zero,
  // a layer count below the file's would drop layers silently.
  c.validate();
  return c;
}

ModelConfig ModelConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open model config '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("model config '" + path + "' is not valid JSON: " + e.what());
  }
  try {
    return from_json(j);
  } catch (const UsageError& e) {
    throw UsageError("'" + path + "': " + e.what());
  }
}

void ModelConfig::save(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw IoError("cannot write model config '" + path + "'");
  out << to_json().dump(2) << "\n";
  if (!out) throw IoError("error while writing model config '" + path + "'");
}

}  // namespace mofe::config
