#include "mofe/config/peft_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "mofe/core/error.h"

namespace mofe::config {

std::string canonical_target(const std::string& t) {
  if (t == "w1") return "gate_proj";  // Mixtral's expert names
  if (t == "w3") return "up_proj";
  if (t == "w2") return "down_proj";
  for (const char* k : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                        "gate", "lm_head"})
    if (t == k) return t;
  return "";
}

bool target_exists(const std::string& t, const ModelConfig& m) {
  const std::string c = canonical_target(t);
  if (c.empty()) return false;
  const bool expert_alias = t == "w1" || t == "w2" || t == "w3";
  if (expert_alias || c == "gate") return m.is_moe();
  if (c == "lm_head") return !m.tie_word_embeddings;
  return true;  // attention always; gate/up/down_proj: the dense MLP or every expert
}

double PeftConfig::scaling() const {
  return use_rslora ? lora_alpha / std::sqrt(double(lora_r)) : lora_alpha / double(lora_r);
}

int64_t PeftConfig::perft_modules(TrainMode mode, const ModelConfig& m) const {
  switch (mode) {
    case TrainMode::kPerftR:
    case TrainMode::kPerftD:
      return perft_adapters;
    case TrainMode::kPerftS:
      return 1;
    case TrainMode::kPerftE:
      return m.num_local_experts;
    default:
      return 0;
  }
}

namespace {

void validate_perft(const PeftConfig& p, const ModelConfig& m, TrainMode mode) {
  if (!m.is_moe())
    throw UsageError("--mode " + to_string(mode) +
                     ": PERFT adds adapters to the MoE blocks, and this model is dense (" +
                     (mode == TrainMode::kPerftE
                          ? std::string("perft-e needs pretrained experts and their router")
                          : std::string("no block_sparse_moe")) +
                     "; give a Mixtral-shaped --model)");
  if (p.perft_rank <= 0)
    throw UsageError("--perft-rank must be a positive bottleneck size, got " +
                     std::to_string(p.perft_rank));
  if (p.perft_adapters <= 0)
    throw UsageError("--perft-adapters must be positive, got " + std::to_string(p.perft_adapters));
  if (mode == TrainMode::kPerftR && (p.perft_topk <= 0 || p.perft_topk > p.perft_adapters))
    throw UsageError("--perft-topk " + std::to_string(p.perft_topk) + " must be in [1, " +
                     "--perft-adapters " + std::to_string(p.perft_adapters) + "]");
  if (p.perft_adapter != "lora" && p.perft_adapter != "parallel")
    throw UsageError("--perft-adapter: unknown kind '" + p.perft_adapter +
                     "' (expected lora or parallel)");
  if (p.perft_act != "silu" && p.perft_act != "relu" && p.perft_act != "gelu")
    throw UsageError("--perft-act: unknown activation '" + p.perft_act +
                     "' (expected silu, relu or gelu)");
  if (!std::isfinite(p.perft_aux_coef) || p.perft_aux_coef < 0)
    throw UsageError("--perft-aux-coef must be >= 0 and finite");
  if (p.perft_aux_coef > 0 && mode != TrainMode::kPerftR)
    throw UsageError("--perft-aux-coef balances the adapter router of --mode perft-r; " +
                     to_string(mode) + " has none");
}

}  // namespace

void PeftConfig::validate(const ModelConfig& m, TrainMode mode) const {
  if (is_perft(mode)) validate_perft(*this, m, mode);
  if (is_peft(mode)) {
    if (lora_r <= 0)
      throw UsageError("--lora-r must be a positive rank, got " + std::to_string(lora_r));
    if (!std::isfinite(lora_alpha) || lora_alpha <= 0)
      throw UsageError("--lora-alpha must be a positive finite number");
    if (!std::isfinite(lora_dropout) || lora_dropout < 0 || lora_dropout >= 1)
      throw UsageError("--lora-dropout must be in [0, 1)");
    if (lora_targets.empty()) throw UsageError("--lora-targets: no module named");
    for (const auto& t : lora_targets) {
      if (canonical_target(t).empty())
        throw UsageError("--lora-targets: '" + t +
                         "' names no module (q_proj k_proj v_proj o_proj gate_proj up_proj "
                         "down_proj w1 w2 w3 gate lm_head)");
      if (!target_exists(t, m))
        throw UsageError("--lora-targets: '" + t + "' names no module of this " +
                         std::string(m.is_moe() ? "MoE" : "dense") + " model" +
                         (t == "lm_head" ? " (its head is tied to the embeddings)" : ""));
    }
    if (train_router && !m.is_moe())
      throw UsageError("--train-router: a dense model has no router");
  } else {
    if (train_router || train_embeddings)
      throw UsageError(std::string(train_router ? "--train-router" : "--train-embeddings") +
                       " applies to --mode lora, dora or qlora; in --mode " + to_string(mode) +
                       " routers and embeddings train already");
    if (!adapter.empty())
      throw UsageError("--adapter loads a peft adapter: it needs --mode lora, dora or qlora");
  }
  if (frozen_dtype != "auto" && frozen_dtype != "fp32" && frozen_dtype != "bf16" &&
      frozen_dtype != "nf4")
    throw UsageError("--frozen-dtype: unknown storage '" + frozen_dtype +
                     "' (expected auto, fp32, bf16 or nf4)");
  if (mode == TrainMode::kQlora && (frozen_dtype == "fp32" || frozen_dtype == "bf16"))
    throw UsageError("--mode qlora stores frozen weights in nf4; --frozen-dtype " + frozen_dtype +
                     " contradicts it (use --mode lora --frozen-dtype " + frozen_dtype + ")");
}

std::string PeftConfig::storage(TrainMode mode) const {
  if (frozen_dtype != "auto") return frozen_dtype;
  return mode == TrainMode::kQlora ? "nf4" : "fp32";
}

nlohmann::json PeftConfig::to_json() const {
  return {{"lora_r", lora_r},
          {"lora_alpha", lora_alpha},
          {"lora_dropout", lora_dropout},
          {"lora_targets", lora_targets},
          {"use_rslora", use_rslora},
          {"train_router", train_router},
          {"train_embeddings", train_embeddings},
          {"frozen_dtype", frozen_dtype},
          {"double_quant", double_quant},
          {"adapter", adapter},
          {"perft_adapters", perft_adapters},
          {"perft_topk", perft_topk},
          {"perft_rank", perft_rank},
          {"perft_adapter", perft_adapter},
          {"perft_act", perft_act},
          {"perft_aux_coef", perft_aux_coef}};
}

PeftConfig PeftConfig::from_json(const nlohmann::json& j) {
  PeftConfig p;
  if (!j.is_object()) return p;
  p.lora_r = j.value("lora_r", p.lora_r);
  p.lora_alpha = j.value("lora_alpha", p.lora_alpha);
  p.lora_dropout = j.value("lora_dropout", p.lora_dropout);
  p.lora_targets = j.value("lora_targets", p.lora_targets);
  p.use_rslora = j.value("use_rslora", p.use_rslora);
  p.train_router = j.value("train_router", p.train_router);
  p.train_embeddings = j.value("train_embeddings", p.train_embeddings);
  p.frozen_dtype = j.value("frozen_dtype", p.frozen_dtype);
  p.double_quant = j.value("double_quant", p.double_quant);
  p.adapter = j.value("adapter", p.adapter);
  p.perft_adapters = j.value("perft_adapters", p.perft_adapters);
  p.perft_topk = j.value("perft_topk", p.perft_topk);
  p.perft_rank = j.value("perft_rank", p.perft_rank);
  p.perft_adapter = j.value("perft_adapter", p.perft_adapter);
  p.perft_act = j.value("perft_act", p.perft_act);
  p.perft_aux_coef = j.value("perft_aux_coef", p.perft_aux_coef);
  return p;
}

}  // namespace mofe::config
