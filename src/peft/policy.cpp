#include "mofe/peft/policy.h"

#include "mofe/peft/lora.h"

namespace mofe::peft {

using model::ParamKind;

namespace {

// The --train-parts name of a parameter kind ("" for adapters, which no part names).
const char* part_of(ParamKind k) {
  switch (k) {
    case ParamKind::kEmbedding:
      return "embeddings";
    case ParamKind::kAttention:
      return "attention";
    case ParamKind::kNorm:
      return "norms";
    case ParamKind::kRouter:
      return "router";
    case ParamKind::kDenseMlp:
    case ParamKind::kExpert:
      return "ffn";
    case ParamKind::kHead:
      return "head";
    case ParamKind::kAdapter:
      break;
  }
  return "";
}

}  // namespace

bool trainable(const model::ParamRole& role, const config::TrainConfig& train,
               const config::PeftConfig& peft) {
  if (role.is_adapter()) return config::adapters_only(train.mode);
  switch (train.mode) {
    case config::TrainMode::kMofe:
      return role.kind != ParamKind::kExpert;
    case config::TrainMode::kFull:
      if (!train.part_trains(part_of(role.kind))) return false;
      return role.kind != ParamKind::kExpert || !train.expert_frozen(role.expert);
    case config::TrainMode::kLora:
    case config::TrainMode::kDora:
    case config::TrainMode::kQlora:
      if (role.kind == ParamKind::kRouter) return peft.train_router;
      if (role.kind == ParamKind::kEmbedding || role.kind == ParamKind::kHead)
        return peft.train_embeddings;
      return false;
    case config::TrainMode::kPerftR:
    case config::TrainMode::kPerftE:
    case config::TrainMode::kPerftS:
    case config::TrainMode::kPerftD:
      return false;  // the whole pretrained model (PERFT trains its adapters only)
  }
  return true;
}

model::PerftSpec perft_spec(config::TrainMode mode, const config::PeftConfig& peft,
                            const config::ModelConfig& m) {
  using V = model::PerftSpec::Variant;
  model::PerftSpec s;
  switch (mode) {
    case config::TrainMode::kPerftR:
      s.variant = V::kRouted;
      break;
    case config::TrainMode::kPerftE:
      s.variant = V::kEmbedded;
      break;
    case config::TrainMode::kPerftS:
      s.variant = V::kShared;
      break;
    case config::TrainMode::kPerftD:
      s.variant = V::kDenseShared;
      break;
    default:
      return s;
  }
  s.adapters = peft.perft_modules(mode, m);
  s.top_k = mode == config::TrainMode::kPerftR ? peft.perft_topk : 0;
  s.rank = peft.perft_rank;
  s.parallel = peft.perft_adapter == "parallel";
  s.act = peft.perft_act;
  return s;
}

namespace {

bool is_projection(ParamKind k) {
  return k == ParamKind::kAttention || k == ParamKind::kDenseMlp || k == ParamKind::kExpert ||
         k == ParamKind::kRouter || k == ParamKind::kHead;
}

// Does some --lora-targets entry name this projection? w1/w2/w3 name experts only.
bool targeted(const config::PeftConfig& peft, const model::ParamRole& role,
              const std::string& leaf) {
  for (const auto& t : peft.lora_targets) {
    if (config::canonical_target(t) != leaf) continue;
    const bool expert_alias = t == "w1" || t == "w2" || t == "w3";
    if (expert_alias && role.kind != ParamKind::kExpert) continue;
    return true;
  }
  return false;
}

}  // namespace

model::BuildOptions build_options(const config::TrainConfig& train, const config::PeftConfig& peft,
                                  const config::ModelConfig& m, torch::ScalarType dtype) {
  model::BuildOptions b;
  b.dtype = dtype;
  b.perft = perft_spec(train.mode, peft, m);
  const std::string storage = peft.storage(train.mode);
  b.plan = [train, peft, storage](const model::ParamRole& role, const std::string& leaf) {
    model::ProjectionPlan p;
    p.double_quant = peft.double_quant;
    if (is_projection(role.kind) && !trainable(role, train, peft)) {
      if (storage == "bf16") p.storage = quant::WeightStorage::kBf16;
      // NF4 leaves the LM head in the compute dtype, as transformers' bitsandbytes loader does.
      if (storage == "nf4" && role.kind != ParamKind::kHead) p.storage = quant::WeightStorage::kNf4;
    }
    if (config::is_peft(train.mode) && targeted(peft, role, leaf)) {
      p.adapter.method = train.mode == config::TrainMode::kDora ? "dora" : "lora";
      p.adapter.rank = peft.lora_r;
      p.adapter.scaling = peft.scaling();
      p.adapter.dropout = peft.lora_dropout;
    }
    return p;
  };
  b.make_adapter = make_adapter;
  return b;
}

model::BuildOptions inference_options(const nlohmann::json& adapters, const config::ModelConfig& m,
                                      torch::ScalarType dtype) {
  if (adapters.is_null()) {
    model::BuildOptions b;
    b.dtype = dtype;
    return b;
  }
  config::TrainConfig train;
  train.mode = config::parse_train_mode(adapters.at("mode").get<std::string>());
  config::PeftConfig peft = config::PeftConfig::from_json(adapters.at("peft"));
  peft.frozen_dtype = "fp32";
  if (train.mode == config::TrainMode::kQlora) train.mode = config::TrainMode::kLora;
  return build_options(train, peft, m, dtype);
}

}  // namespace mofe::peft
